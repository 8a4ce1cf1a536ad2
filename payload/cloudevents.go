package payload

import (
	"cmp"
	"net/http"
	"net/url"
	"time"

	"github.com/hookstream/hookstream/internal/jsonw"
)

// cloudEvent renders CloudEvents 1.0 (https://github.com/cloudevents/spec):
// id is the webhook-id, source and type come from the options or the
// event, time is the event's, and data is the event.
type cloudEvent struct {
	source, typ text
	binary      bool
}

func compileCloudEvents(spec *Spec, c *compiler) renderer {
	return &cloudEvent{source: c.text("source", spec.Source), typ: c.text("type", spec.Type)}
}

func compileCloudEventsBinary(spec *Spec, c *compiler) renderer {
	ce := compileCloudEvents(spec, c).(*cloudEvent)
	ce.binary = true
	return ce
}

// attributes returns the event's source and type.
func (ce *cloudEvent) attributes(in *Input) (source, typ string, err error) {
	if source, err = ce.source.string(in, 1024); err != nil {
		return "", "", err
	}
	if typ, err = ce.typ.string(in, 1024); err != nil {
		return "", "", err
	}
	return uriReference(cmp.Or(source, in.Event.Source, "hookstream")), cmp.Or(typ, in.Event.Type, "hookstream.event"), nil
}

// uriReference makes s the URI-reference a CloudEvents source must be,
// escaping what a URI cannot hold as it is: "/svc/a b" is "/svc/a%20b".
func uriReference(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.String()
	}
	return url.PathEscape(s)
}

func (ce *cloudEvent) render(req *Request, in *Input, _ *scratch) error {
	source, typ, err := ce.attributes(in)
	if err != nil {
		return err
	}
	at := in.Time.UTC().Format(time.RFC3339Nano)
	if ce.binary {
		req.Header = http.Header{
			"Content-Type":   {jsonType},
			"Ce-Specversion": {"1.0"},
			"Ce-Id":          {ceHeaderValue(in.WebhookID)},
			"Ce-Source":      {ceHeaderValue(source)},
			"Ce-Type":        {ceHeaderValue(typ)},
			"Ce-Time":        {at},
		}
		req.Body = append(req.Body, in.Event.Raw...)
		return nil
	}
	b := append(req.Body, `{"specversion":"1.0","id":`...)
	b = jsonw.AppendString(b, in.WebhookID)
	b = append(b, `,"source":`...)
	b = jsonw.AppendString(b, source)
	b = append(b, `,"type":`...)
	b = jsonw.AppendString(b, typ)
	b = append(b, `,"time":"`...)
	b = append(b, at...)
	b = append(b, `","datacontenttype":"application/json","data":`...)
	b = append(b, in.Event.Raw...)
	req.Body = append(b, '}')
	req.Header = cloudEventsHeader
	return nil
}

var cloudEventsHeader = contentType("application/cloudevents+json; charset=utf-8")

// ceHeaderValue percent-encodes what the CloudEvents HTTP binding says a
// ce-* header must not carry as is: space, '"' and everything outside
// printable ASCII, as UTF-8 bytes. A '%' is left as it is: the source,
// already a URI-reference, carries its own escapes, and receivers built
// on the Go SDK do not decode header values.
func ceHeaderValue(s string) string {
	escape := func(c byte) bool { return c <= ' ' || c > '~' || c == '"' }
	i := 0
	for i < len(s) && !escape(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(s)+8)
	out = append(out, s[:i]...)
	for ; i < len(s); i++ {
		if c := s[i]; escape(c) {
			out = append(out, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}
