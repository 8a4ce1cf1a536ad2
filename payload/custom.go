package payload

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// custom renders a template: a body written as a Go text/template over
// the event, with its own content type, method, headers, and path and
// query of the subscription's URL.
type custom struct {
	header      http.Header // Content-Type alone, shared when there are no templated headers
	body        text
	contentType string
	json        bool
	method      string
	path        text
	query       map[string]text
	headers     map[string]text
}

// reservedHeaders are written by hookstream and never by a template.
var reservedHeaders = map[string]bool{
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true, "Content-Type": true,
	"Content-Length": true, "Host": true, "Transfer-Encoding": true, "Connection": true,
}

func compileTemplate(spec *Spec, c *compiler) renderer {
	t := &custom{contentType: cmp.Or(spec.ContentType, jsonType), method: cmp.Or(spec.Method, http.MethodPost)}
	mt, _, err := mime.ParseMediaType(t.contentType)
	if err != nil {
		c.fail("content_type", "is not a media type: %v", err)
	}
	t.json = mt == jsonType || strings.HasSuffix(mt, "+json")
	t.header = contentType(t.contentType)
	switch t.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		c.fail("method", "must be POST, PUT or PATCH (got %q)", spec.Method)
	}
	mode := textPlain
	if t.json {
		mode = textJSON
	}
	if spec.Body == "" {
		c.fail("body", "is required for format template")
	} else {
		t.body = c.textFor("body", spec.Body, mode)
	}
	if spec.Path != "" {
		if !strings.HasPrefix(spec.Path, "/") {
			c.fail("path", "must start with /")
		} else {
			t.path = c.textFor("path", spec.Path, textPath)
		}
	}
	for name, src := range spec.Query {
		if name == "" {
			c.fail("query", "a parameter name must not be empty")
			continue
		}
		if t.query == nil {
			t.query = map[string]text{}
		}
		t.query[name] = c.text("query."+name, src)
	}
	for name, src := range spec.Headers {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			c.fail("headers."+name, "is not a valid HTTP header name")
		case reservedHeaders[canon]:
			c.fail("headers."+name, "is set by hookstream and cannot be overridden")
		default:
			if t.headers == nil {
				t.headers = map[string]text{}
			}
			t.headers[canon] = c.text("headers."+name, src)
		}
	}
	return t
}

func (t *custom) render(req *Request, in *Input, s *scratch) error {
	var err error
	var checked bool
	if req.Body, checked, err = t.body.renderChecked(req.Body, in, s.max); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if t.json && !checked && !json.Valid(req.Body) {
		return errors.New("body: the template wrote invalid JSON")
	}
	req.Method = t.method
	req.Header = t.header
	if t.headers != nil {
		req.Header = contentType(t.contentType)
	}
	for name, v := range t.headers {
		value, err := v.string(in, maxFact)
		if err != nil {
			return fmt.Errorf("header %s: %w", name, err)
		}
		if strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return fmt.Errorf("header %s: the template wrote a control character", name)
		}
		req.Header[name] = []string{value}
	}
	if t.path.empty() && t.query == nil {
		return nil
	}
	u, err := url.Parse(in.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if !t.path.empty() {
		p, err := t.path.render(nil, in, maxFact)
		if err != nil {
			return fmt.Errorf("path: %w", err)
		}
		if u.Path, err = url.PathUnescape(string(p)); err != nil {
			return fmt.Errorf("path: %w", err)
		}
		u.RawPath = string(p)
	}
	if t.query != nil {
		q := u.Query()
		for name, v := range t.query {
			value, err := v.string(in, maxFact)
			if err != nil {
				return fmt.Errorf("query %s: %w", name, err)
			}
			q.Set(name, value)
		}
		u.RawQuery = q.Encode()
	}
	req.URL = u.String()
	return nil
}
