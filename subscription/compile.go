package subscription

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/payload"
)

// Compiled is a validated subscription prepared for matching and
// delivery: globs, regexes, paths, the payload's templates and the signing
// key are built once here and never per event.
type Compiled struct {
	Subscription
	// Signer holds the decoded signing secrets.
	Signer credential.Signer
	// Header holds the subscription's custom headers in canonical form.
	Header http.Header
	// Host is the URL's host (and port), which per-host limits go by.
	Host string
	// Endpoint is the parsed URL, which every attempt's request shares:
	// it is never modified.
	Endpoint *url.URL
	// WireURL is Endpoint as a request's line and Host header carry it:
	// without its fragment, its path escaped as net/url escapes it.
	WireURL string
	// Render renders the subscription's deliveries.
	Render *payload.Compiled
	// Credential authenticates its requests; nil when it has no auth.
	Credential *credential.Auth

	filter
}

// filter is a compiled Filter.
type filter struct {
	levels   []string // lower-cased
	sources  map[string]struct{}
	globs    []glob
	where    []predicate
	maxMatch int // bytes of a string a regex examines
}

// Timeout returns the per-attempt timeout.
func (c *Compiled) Timeout() time.Duration { return time.Duration(c.Subscription.Timeout) }

// Compile validates s and prepares it. The error is a *ValidationError
// naming every bad field.
func Compile(s Subscription) (*Compiled, error) {
	verr := &ValidationError{}
	validateBasics(&s, verr)
	c := &Compiled{Subscription: s}
	var err error
	if u, err := url.Parse(s.URL); err == nil {
		c.Host, c.Endpoint = u.Host, u
		c.WireURL = u.Scheme + "://" + u.Host + u.RequestURI()
	}
	c.Signer.Key, _ = credential.ParseKey(s.Secret)
	for _, p := range s.PreviousSecrets {
		if k, err := credential.ParseKey(p.Secret); err == nil {
			c.Signer.Previous = append(c.Signer.Previous, credential.ExpiringKey{Key: k, ExpiresAt: p.ExpiresAt})
		}
	}
	if len(s.Headers) > 0 {
		c.Header = make(http.Header, len(s.Headers))
		for k, v := range s.Headers {
			c.Header.Set(k, v)
		}
	}
	c.filter = compileFilter(s.Filter, "filter", verr)
	c.Render, err = payload.Compile(s.Payload, payload.Options{CompileCondition: compileCondition})
	verr.addAll(err)
	if s.Auth != nil {
		c.Credential, err = credential.Compile(*s.Auth)
		verr.addAll(err)
		if c.Credential != nil && c.Header.Get(c.Credential.Header()) != "" {
			verr.add("headers."+c.Credential.Header(), "is set by auth; leave it out of headers")
		}
	}
	if len(verr.Errors) > 0 {
		sort.SliceStable(verr.Errors, func(i, j int) bool { return verr.Errors[i].Field < verr.Errors[j].Field })
		return nil, verr
	}
	return c, nil
}

// compileFilter compiles f, written at field, adding its faults to verr.
func compileFilter(f Filter, field string, verr *ValidationError) filter {
	checkFilterSize(f, field, verr)
	insts := 0 // of the filter's regexes and globs
	c := filter{maxMatch: DefaultMaxMatchBytes}
	for i, t := range f.Types {
		if t == "" {
			verr.add(fmt.Sprintf("%s.types[%d]", field, i), "must not be empty")
		}
	}
	for i, l := range f.Levels {
		if l == "" {
			verr.add(fmt.Sprintf("%s.levels[%d]", field, i), "must not be empty")
		}
		c.levels = append(c.levels, strings.ToLower(l))
	}
	for i, src := range f.Sources {
		field := fmt.Sprintf("%s.sources[%d]", field, i)
		if src == "" {
			verr.add(field, "must not be empty")
			continue
		}
		if !strings.ContainsAny(src, "*?") {
			if c.sources == nil {
				c.sources = make(map[string]struct{})
			}
			c.sources[src] = struct{}{}
			continue
		}
		g, err := compileGlob(src, &insts)
		if err != nil {
			verr.add(field, "%v", err)
			continue
		}
		c.globs = append(c.globs, g)
	}
	for i, p := range f.Where {
		pr, sub, err := compilePredicate(p, &insts)
		if err != nil {
			verr.add(fmt.Sprintf("%s.where[%d].%s", field, i, sub), "%v", err)
			continue
		}
		c.where = append(c.where, pr)
	}
	return c
}

// compileCondition compiles a payload's condition as a filter.
func compileCondition(cond payload.Condition) (payload.Matcher, error) {
	f := Filter{Types: cond.Types, Levels: cond.Levels, Sources: cond.Sources}
	for _, p := range cond.Where {
		f.Where = append(f.Where, Predicate{Path: p.Path, Op: Op(p.Op), Value: p.Value})
	}
	if len(f.Types)+len(f.Levels)+len(f.Sources)+len(f.Where) == 0 {
		return nil, errors.New("must hold at least one of types, levels, sources and where")
	}
	verr := &ValidationError{}
	c := compileFilter(f, "payload.resolve_when", verr)
	if len(verr.Errors) > 0 {
		return nil, verr
	}
	return func(ev *event.Event) bool { return c.matches(f.Types, ev) }, nil
}

// Matches reports whether ev passes the whole filter. The matcher's index
// has usually settled types and levels already; Matches is the full check.
func (c *Compiled) Matches(ev *event.Event) bool { return c.matches(c.Filter.Types, ev) }

func (c *filter) matches(types []string, ev *event.Event) bool {
	if len(types) > 0 && !contains(types, ev.Type) {
		return false
	}
	if len(c.levels) > 0 && !contains(c.levels, ev.Level) {
		return false
	}
	return c.matchSource(ev.Source) && c.matchWhere(ev)
}

func (c *filter) matchSource(source string) bool {
	if c.sources == nil && c.globs == nil {
		return true
	}
	if _, ok := c.sources[source]; ok {
		return true
	}
	for i := range c.globs {
		if c.globs[i].match(source) {
			return true
		}
	}
	return false
}

func (c *filter) matchWhere(ev *event.Event) bool {
	for i := range c.where {
		if !c.where[i].eval(ev.Fields(), c.maxMatch) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// glob matches * (any run) and ? (one character). Pure prefix and suffix
// globs skip the regexp.
type glob struct {
	prefix, suffix string
	re             *regexp.Regexp
}

func compileGlob(pattern string, insts *int) (glob, error) {
	star := strings.Count(pattern, "*")
	if !strings.Contains(pattern, "?") && star == 1 {
		switch {
		case strings.HasSuffix(pattern, "*"):
			return glob{prefix: strings.TrimSuffix(pattern, "*")}, nil
		case strings.HasPrefix(pattern, "*"):
			return glob{suffix: strings.TrimPrefix(pattern, "*")}, nil
		}
	}
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	if len(pattern) > MaxPatternBytes {
		return glob{}, fmt.Errorf("glob is %d bytes; at most %d", len(pattern), MaxPatternBytes)
	}
	re, err := compileBounded(b.String(), insts)
	if err != nil {
		return glob{}, fmt.Errorf("glob %v", err)
	}
	return glob{re: re}, nil
}

func (g *glob) match(s string) bool {
	if g.re != nil {
		return g.re.MatchString(s)
	}
	return strings.HasPrefix(s, g.prefix) && strings.HasSuffix(s, g.suffix)
}

// predicate is a compiled Predicate. want is a string, float64, bool or
// nil (JSON null); set is the list of in and not_in.
type predicate struct {
	path   event.Path
	op     Op
	want   any
	set    []any
	re     *regexp.Regexp
	exists bool
}

func compilePredicate(p Predicate, insts *int) (predicate, string, error) {
	path, err := event.ParsePath(p.Path)
	if err != nil {
		return predicate{}, "path", err
	}
	pr := predicate{path: path, op: p.Op}
	switch p.Op {
	case OpEq, OpNe:
		if !isScalar(p.Value) {
			return pr, "value", fmt.Errorf("%s needs a string, number, boolean or null", p.Op)
		}
		pr.want = p.Value
	case OpIn, OpNotIn:
		list, ok := p.Value.([]any)
		if !ok || len(list) == 0 {
			return pr, "value", fmt.Errorf("%s needs a non-empty list", p.Op)
		}
		if len(list) > MaxSetValues {
			return pr, "value", fmt.Errorf("%s has %d values; at most %d", p.Op, len(list), MaxSetValues)
		}
		for i, v := range list {
			if !isScalar(v) {
				return pr, "value", fmt.Errorf("%s: element %d is not a string, number, boolean or null", p.Op, i)
			}
		}
		pr.set = list
	case OpRegex:
		s, ok := p.Value.(string)
		if !ok {
			return pr, "value", fmt.Errorf("regex needs a string")
		}
		if pr.re, err = compileBounded(s, insts); err != nil {
			return pr, "value", fmt.Errorf("regex %v", err)
		}
	case OpContains:
		if !isScalar(p.Value) || p.Value == nil {
			return pr, "value", fmt.Errorf("contains needs a string, number or boolean")
		}
		pr.want = p.Value
	case OpPrefix:
		s, ok := p.Value.(string)
		if !ok {
			return pr, "value", fmt.Errorf("prefix needs a string")
		}
		pr.want = s
	case OpGt, OpGte, OpLt, OpLte:
		switch p.Value.(type) {
		case float64, string:
			pr.want = p.Value
		default:
			return pr, "value", fmt.Errorf("%s needs a number (or a string, compared in byte order)", p.Op)
		}
	case OpExists:
		switch v := p.Value.(type) {
		case nil:
			pr.exists = true
		case bool:
			pr.exists = v
		default:
			return pr, "value", fmt.Errorf("exists takes true, false or no value")
		}
	case "":
		return pr, "op", fmt.Errorf("is required")
	default:
		return pr, "op", fmt.Errorf("unknown op %q; one of %v", p.Op, Ops)
	}
	return pr, "", nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case nil, string, float64, bool:
		return true
	}
	return false
}

// eval tests the predicate on obj; a regex examines at most the first
// maxMatch bytes of a string.
func (p *predicate) eval(obj map[string]any, maxMatch int) bool {
	got, ok := p.path.Lookup(obj)
	switch p.op {
	case OpExists:
		return ok == p.exists
	case OpNe:
		return !ok || !scalarEqual(got, p.want)
	case OpNotIn:
		return !ok || !inSet(got, p.set)
	}
	if !ok {
		return false
	}
	switch p.op {
	case OpEq:
		return scalarEqual(got, p.want)
	case OpIn:
		return inSet(got, p.set)
	case OpRegex:
		s, ok := got.(string)
		return ok && p.re.MatchString(head(s, maxMatch))
	case OpPrefix:
		s, ok := got.(string)
		return ok && strings.HasPrefix(s, p.want.(string))
	case OpContains:
		switch g := got.(type) {
		case string:
			w, ok := p.want.(string)
			return ok && strings.Contains(g, w)
		case []any:
			return inSet(p.want, g)
		}
		return false
	case OpGt, OpGte, OpLt, OpLte:
		cmp, ok := compare(got, p.want)
		if !ok {
			return false
		}
		switch p.op {
		case OpGt:
			return cmp > 0
		case OpGte:
			return cmp >= 0
		case OpLt:
			return cmp < 0
		default:
			return cmp <= 0
		}
	}
	return false
}

func scalarEqual(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	}
	return false
}

func inSet(v any, set []any) bool {
	for _, s := range set {
		if scalarEqual(v, s) {
			return true
		}
	}
	return false
}

// compare orders got against want: numbers numerically (a numeric string
// field counts as a number), strings in byte order.
func compare(got, want any) (int, bool) {
	switch w := want.(type) {
	case float64:
		var g float64
		switch v := got.(type) {
		case float64:
			g = v
		case string:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, false
			}
			g = f
		default:
			return 0, false
		}
		switch {
		case g < w:
			return -1, true
		case g > w:
			return 1, true
		}
		return 0, true
	case string:
		g, ok := got.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(g, w), true
	}
	return 0, false
}

// head is s cut to at most n bytes, between characters.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// MaskHeader is how the value of a request header to c's endpoint may be
// shown: a custom header's value masked, the credential's replaced by
// its type, and any of secrets masked wherever it appears.
func (c *Compiled) MaskHeader(name, value string, secrets []string) string {
	switch name = http.CanonicalHeaderKey(name); {
	case c.Credential != nil && http.CanonicalHeaderKey(c.Credential.Header()) == name:
		return "(" + string(c.Credential.Type()) + ", set when sent)"
	case c.Header.Get(name) != "":
		return MaskValue(value)
	}
	return MaskIn(value, secrets)
}
