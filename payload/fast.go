package payload

import (
	"text/template/parse"

	"github.com/hookstream/hookstream/event"
)

// fastTemplate renders, without reflection, a template made only of text
// and actions that read a field chain (.a.b), bare or through one of the
// one-argument helpers: most of what payloads are written with. Anything
// else, and any event it cannot render as plainly (a missing key, a
// field of something that is not an object), goes to text/template, whose
// output on what fastTemplate renders is the same (a test compares them).
type fastTemplate struct {
	parts []fastPart
	paths [][]string // of the actions, in order: looked up together
}

// fastPart is a run of text, or an action: the value at path, through
// helper when there is one, then through escape when there is one.
type fastPart struct {
	text     string
	path     []string
	helper   func(any) string
	escape   func([]byte, any) []byte // appends the value escaped
	inString bool                     // escaped as the inside of a JSON string
}

// unary are the helpers fastTemplate calls itself.
var unary = map[string]func(any) string{
	"json":  toJSON,
	"quote": quote,
	"upper": funcs["upper"].(func(any) string),
	"lower": funcs["lower"].(func(any) string),
}

// escapers append what each function escapeTree appends writes, as it
// writes it.
var escapers = map[string]func([]byte, any) []byte{
	"_text":    appendText,
	"_json":    appendJSONValue,
	"_jsonstr": appendJSONString,
	"_path":    appendPath,
}

// compileFast returns the fast form of tree, escaped already, or nil.
func compileFast(tree *parse.Tree) *fastTemplate {
	f := &fastTemplate{}
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			f.parts = append(f.parts, fastPart{text: string(n.Text)})
		case *parse.ActionNode:
			p, ok := fastAction(n.Pipe)
			if !ok {
				return nil
			}
			f.parts = append(f.parts, p)
			f.paths = append(f.paths, p.path)
		case *parse.CommentNode:
		default:
			return nil
		}
	}
	return f
}

func fastAction(pipe *parse.PipeNode) (fastPart, bool) {
	var p fastPart
	if len(pipe.Decl) > 0 || len(pipe.Cmds) == 0 || len(pipe.Cmds) > 2 {
		return p, false
	}
	if len(pipe.Cmds) == 2 {
		last := pipe.Cmds[1].Args
		if len(last) != 1 {
			return p, false
		}
		id, ok := last[0].(*parse.IdentifierNode)
		if !ok || escapers[id.Ident] == nil {
			return p, false
		}
		p.escape, p.inString = escapers[id.Ident], id.Ident == "_jsonstr"
	}
	args := pipe.Cmds[0].Args
	if len(args) == 2 {
		id, ok := args[0].(*parse.IdentifierNode)
		if !ok || unary[id.Ident] == nil {
			return p, false
		}
		p.helper = unary[id.Ident]
		args = args[1:]
	}
	if len(args) != 1 {
		return p, false
	}
	field, ok := args[0].(*parse.FieldNode)
	if !ok {
		return p, false
	}
	p.path = field.Ident
	return p, true
}

// render appends f over ev to dst, or reports false when ev is not as
// plain as the fast form needs. It reads only the values it writes, all
// in one look at the event.
func (f *fastTemplate) render(dst []byte, ev *event.Event, max int) ([]byte, bool) {
	var small [8]any
	vals := small[:]
	if len(f.paths) > len(small) {
		vals = make([]any, len(f.paths))
	}
	if !ev.LookupEach(f.paths, vals[:len(f.paths)]) {
		return dst, false
	}
	next := 0
	for _, p := range f.parts {
		if p.path == nil {
			dst = append(dst, p.text...)
		} else {
			v := vals[next]
			next++
			if p.helper != nil {
				v = p.helper(v)
			}
			if p.escape != nil {
				dst = p.escape(dst, v)
			} else if str, ok := v.(string); ok {
				dst = append(dst, str...)
			} else {
				return dst, false
			}
		}
		if len(dst) > max {
			return dst, false
		}
	}
	return dst, true
}

// sample renders f with a placeholder for each value: x inside a JSON
// string, 0 elsewhere.
func (f *fastTemplate) sample() []byte {
	var b []byte
	for _, p := range f.parts {
		switch {
		case p.path == nil:
			b = append(b, p.text...)
		case p.inString:
			b = append(b, 'x')
		default:
			b = append(b, '0')
		}
	}
	return b
}
