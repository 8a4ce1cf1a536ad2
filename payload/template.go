package payload

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/internal/jsonw"
)

// MaxTemplateBytes caps the source of one template.
const MaxTemplateBytes = 16 << 10

// textMode is where a template's output goes, which decides how each
// value it writes is escaped.
type textMode int

const (
	// textPlain output is a string the format escapes as a whole.
	textPlain textMode = iota
	// textJSON output is a JSON document: a value written inside a JSON
	// string is escaped as string content, any other as a JSON value.
	textJSON
	// textPath output is a URL path: each value is path-escaped.
	textPath
)

// text is an option written as a template, or a literal when it holds no
// action.
type text struct {
	lit  string
	t    *template.Template
	fast *fastTemplate // nil unless the template has a fast form
}

func (t text) empty() bool { return t.t == nil && t.lit == "" }

// funcs are the helpers a template may call. None reaches the network,
// files or the environment; printf is bounded.
var funcs = template.FuncMap{
	"json":    toJSON,
	"quote":   quote,
	"default": dflt,
	"upper":   func(v any) string { return strings.ToUpper(toText(v)) },
	"lower":   func(v any) string { return strings.ToLower(toText(v)) },
	"trunc":   trunc,
	"date":    date,
	"get":     get,
	"printf":  printf,
	"print":   fmt.Sprint,
	"println": fmt.Sprintln,
	// Escapers the compiler adds to every action; see escapeTree.
	"_text":    toText,
	"_json":    toJSON,
	"_jsonstr": func(v any) string { return string(appendJSONString(nil, v)) },
	"_path":    func(v any) string { return string(appendPath(nil, v)) },
}

// compileText compiles src, an option's template, for mode.
func compileText(field, src string, mode textMode) (text, error) {
	if len(src) > MaxTemplateBytes {
		return text{}, fmt.Errorf("template is %d bytes; at most %d", len(src), MaxTemplateBytes)
	}
	if !strings.Contains(src, "{{") {
		if mode == textJSON && !json.Valid([]byte(src)) {
			return text{}, errors.New("is not valid JSON")
		}
		return text{lit: src}, nil
	}
	t, err := template.New(field).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return text{}, fmt.Errorf("does not parse: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if len(t.Templates()) > 1 {
		return text{}, errors.New("define and block are not supported")
	}
	if err := escapeTree(t.Tree, mode); err != nil {
		return text{}, err
	}
	fast := compileFast(t.Tree)
	if fast != nil && mode == textJSON && !json.Valid(fast.sample()) {
		// Its values are escaped for where they go: whatever the event,
		// the output is JSON exactly when this sample is.
		return text{}, fmt.Errorf("does not write valid JSON: %s", fast.sample())
	}
	return text{t: t, fast: fast}, nil
}

// render writes t over in's event to dst, at most max bytes in all.
func (t text) render(dst []byte, in *Input, max int) ([]byte, error) {
	out, _, err := t.renderChecked(dst, in, max)
	return out, err
}

// renderChecked is render, also reporting whether the output is known to
// be valid JSON when t is: a literal, or a fast template, checked when
// compiled.
func (t text) renderChecked(dst []byte, in *Input, max int) ([]byte, bool, error) {
	if t.t == nil {
		if len(dst)+len(t.lit) > max {
			return dst, false, errTooLarge(max)
		}
		return append(dst, t.lit...), true, nil
	}
	if t.fast != nil {
		if out, ok := t.fast.render(dst, in.Event, max); ok {
			return out, true, nil
		}
	}
	out, err := t.slow(dst, in, max)
	return out, false, err
}

// slow renders t with text/template.
func (t text) slow(dst []byte, in *Input, max int) ([]byte, error) {
	fields := in.Event.Fields
	if !in.Event.Decoded() {
		// A fast template's event may be rendered by several goroutines
		// at once: one it hands over decodes a copy.
		ev := *in.Event
		fields = ev.Fields
	}
	w := cappedWriter{buf: dst, max: max}
	if err := t.t.Execute(&w, fields()); err != nil {
		if w.over {
			return w.buf, errTooLarge(max)
		}
		return w.buf, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return w.buf, nil
}

// string renders t as a string cut to max bytes.
func (t text) string(in *Input, max int) (string, error) {
	if t.t == nil {
		return t.lit, nil
	}
	b, err := t.render(nil, in, max)
	if errors.Is(err, errOver) {
		// Cut between characters.
		for len(b) > 0 && !utf8.Valid(b[len(b)-min(len(b), utf8.UTFMax):]) {
			b = b[:len(b)-1]
		}
		return string(b), nil
	}
	return string(b), err
}

var errOver = errors.New("output too large")

func errTooLarge(max int) error { return fmt.Errorf("%w: more than %d bytes", errOver, max) }

// cappedWriter appends to buf and fails past max bytes, which stops the
// template.
type cappedWriter struct {
	buf  []byte
	max  int
	over bool
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if len(w.buf)+len(p) > w.max {
		w.over = true
		w.buf = append(w.buf, p[:max(0, w.max-len(w.buf))]...)
		return 0, errOver
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// escapeTree makes every action of a template escape what it writes for
// mode, and refuses the constructs that could run without bound.
func escapeTree(t *parse.Tree, mode textMode) error {
	e := escaper{tree: t, mode: mode}
	_, err := e.list(t.Root, jsonState{})
	return err
}

// jsonState is where a JSON document's text stands: inside a string, and
// just after a backslash in it.
type jsonState struct{ inString, escaped bool }

func (s jsonState) after(text []byte) jsonState {
	for _, c := range text {
		switch {
		case s.escaped:
			s.escaped = false
		case s.inString && c == '\\':
			s.escaped = true
		case c == '"':
			s.inString = !s.inString
		}
	}
	return s
}

type escaper struct {
	tree   *parse.Tree
	mode   textMode
	ranges int // ranges enclosing the node walked
}

func (e *escaper) list(l *parse.ListNode, s jsonState) (jsonState, error) {
	if l == nil {
		return s, nil
	}
	for _, n := range l.Nodes {
		var err error
		if s, err = e.node(n, s); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (e *escaper) node(n parse.Node, s jsonState) (jsonState, error) {
	switch n := n.(type) {
	case *parse.TextNode:
		return s.after(n.Text), nil
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 {
			e.escape(n.Pipe, s)
		}
		return s, nil
	case *parse.IfNode:
		return e.branch(&n.BranchNode, s)
	case *parse.WithNode:
		return e.branch(&n.BranchNode, s)
	case *parse.RangeNode:
		if e.ranges > 0 {
			return s, errors.New("a range inside a range is not supported")
		}
		if cmds := n.Pipe.Cmds; len(cmds) == 1 && len(cmds[0].Args) == 1 {
			if _, ok := cmds[0].Args[0].(*parse.NumberNode); ok {
				return s, errors.New("range over a number is not supported")
			}
		}
		e.ranges++
		defer func() { e.ranges-- }()
		end, err := e.branch(&n.BranchNode, s)
		if err == nil && end != s {
			err = errors.New("a range must end where it started in the JSON text (inside or outside a string)")
		}
		return end, err
	case *parse.TemplateNode:
		return s, errors.New("template calls are not supported")
	case *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return s, nil
	}
	return s, fmt.Errorf("unsupported template construct %s", n)
}

// branch walks both arms of an if, with or range; they must leave the
// JSON text in the same state.
func (e *escaper) branch(b *parse.BranchNode, s jsonState) (jsonState, error) {
	end, err := e.list(b.List, s)
	if err != nil {
		return end, err
	}
	if b.ElseList != nil {
		other, err := e.list(b.ElseList, s)
		if err != nil {
			return end, err
		}
		if other != end && e.mode == textJSON {
			return end, errors.New("both arms of an if, with or range must leave the JSON text in the same state")
		}
	}
	return end, nil
}

// escape appends to pipe the escaper its output needs.
func (e *escaper) escape(pipe *parse.PipeNode, s jsonState) {
	var name string
	switch {
	case e.mode == textPath:
		name = "_path"
	case e.mode == textJSON && s.inString:
		name = "_jsonstr"
	case e.mode == textJSON:
		if last := pipe.Cmds[len(pipe.Cmds)-1]; len(last.Args) > 0 {
			if id, ok := last.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "json" || id.Ident == "quote") {
				return
			}
		}
		name = "_json"
	default:
		name = "_text"
	}
	id := parse.NewIdentifier(name).SetTree(e.tree).SetPos(pipe.Pos)
	pipe.Cmds = append(pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pipe.Pos, Args: []parse.Node{id}})
}

// toText writes a value as text: a string as it is, a number without an
// exponent where it has a short form, null as nothing, an object or list
// as JSON.
func toText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return string(appendText(nil, v))
}

// appendText appends v written as toText writes it to dst.
func appendText(dst []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return append(dst, v...)
	case nil:
		return dst
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e21 {
			return strconv.AppendFloat(dst, v, 'f', -1, 64)
		}
		return strconv.AppendFloat(dst, v, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case time.Time:
		return v.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	return appendJSONValue(dst, v)
}

// toJSON writes v as a JSON value.
func toJSON(v any) string { return string(appendJSONValue(nil, v)) }

// appendJSONValue appends v written as toJSON writes it to dst: null
// for what does not encode.
func appendJSONValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return jsonw.AppendString(dst, v)
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, v)
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			return appendText(dst, v)
		}
	}
	out, err := appendJSON(dst, v)
	if err != nil {
		return append(dst, "null"...)
	}
	return out
}

// appendJSONString appends v written as text to dst, escaped as the
// inside of a JSON string.
func appendJSONString(dst []byte, v any) []byte {
	if s, ok := v.(string); ok {
		return jsonw.AppendStringContent(dst, s)
	}
	return jsonw.AppendStringContent(dst, toText(v))
}

// appendPath appends v written as text to dst, escaped as a URL path
// segment.
func appendPath(dst []byte, v any) []byte { return append(dst, url.PathEscape(toText(v))...) }

// quote writes v as a JSON string.
func quote(v any) string { return string(jsonw.AppendString(nil, toText(v))) }

// dflt returns v, or d when v is missing, null, false, zero or empty.
func dflt(d, v any) any {
	switch x := v.(type) {
	case nil:
		return d
	case string:
		if x == "" {
			return d
		}
	case bool:
		if !x {
			return d
		}
	case float64:
		if x == 0 {
			return d
		}
	case []any:
		if len(x) == 0 {
			return d
		}
	case map[string]any:
		if len(x) == 0 {
			return d
		}
	}
	return v
}

// trunc cuts v's text to n characters.
func trunc(n int, v any) string {
	s := toText(v)
	if n < 0 {
		n = 0
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// date formats a time, written as RFC 3339 text or as Unix seconds or
// milliseconds, with a Go layout, in UTC.
func date(layout string, v any) (string, error) {
	t, err := asTime(v)
	if err != nil {
		return "", err
	}
	return t.UTC().Format(layout), nil
}

func asTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("date: %q is not an RFC 3339 time", x)
		}
		return t, nil
	case float64:
		if math.Abs(x) >= 1e11 { // milliseconds from 1973 on
			return time.UnixMilli(int64(x)), nil
		}
		return time.Unix(int64(x), 0), nil
	}
	return time.Time{}, fmt.Errorf("date: %v is not a time", v)
}

// get reads a dotted or indexed path ("user.id", "tags[0]") of obj; it
// returns nil where the path leads nowhere, so default can follow it.
func get(obj any, path string) (any, error) {
	p, err := event.ParsePath(path)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, nil
	}
	v, _ := p.Lookup(m)
	return v, nil
}

// maxVerbWidth bounds a printf width or precision, so that a template
// cannot ask for a gigabyte of padding.
const maxVerbWidth = 1000

// printf is fmt.Sprintf with bounded widths and precisions.
func printf(format string, args ...any) (string, error) {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		n := 0
		for i++; i < len(format); i++ {
			c := format[i]
			switch {
			case c >= '0' && c <= '9':
				n = n*10 + int(c-'0')
				if n > maxVerbWidth {
					return "", fmt.Errorf("printf: width or precision above %d", maxVerbWidth)
				}
				continue
			case c == '.':
				n = 0
				continue
			case c == '*':
				return "", errors.New("printf: * widths are not supported")
			case strings.IndexByte("+-# []", c) >= 0:
				continue
			}
			break
		}
	}
	return fmt.Sprintf(format, args...), nil
}
