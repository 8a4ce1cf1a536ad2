package payload

import (
	"time"

	"github.com/hookstream/hookstream/internal/jsonw"
)

// Envelope is the standard payload: the event wrapped with the delivery's
// identity. Data must be a JSON value; it is copied into the body as is.
type Envelope struct {
	ID             string
	Type           string
	Timestamp      time.Time
	SubscriptionID string
	Data           []byte
}

// AppendJSON appends the envelope as
// {"id","type","timestamp","subscription_id","data"} to dst.
func (e *Envelope) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonw.AppendString(dst, e.ID)
	dst = append(dst, `,"type":`...)
	dst = jsonw.AppendString(dst, e.Type)
	dst = append(dst, `,"timestamp":"`...)
	dst = e.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","subscription_id":`...)
	dst = jsonw.AppendString(dst, e.SubscriptionID)
	dst = append(dst, `,"data":`...)
	dst = append(dst, e.Data...)
	return append(dst, '}')
}

// scratch is one render's state.
type scratch struct {
	max int // bytes a body may have
}

type standard struct{}

func compileStandard(*Spec, *compiler) renderer { return standard{} }

func (standard) render(req *Request, in *Input, _ *scratch) error {
	env := Envelope{ID: in.WebhookID, Type: in.Event.Type, Timestamp: in.Time,
		SubscriptionID: in.SubscriptionID, Data: in.Event.Raw}
	if cap(req.Body) == 0 {
		req.Body = make([]byte, 0, len(in.Event.Raw)+192)
	}
	req.Body = env.AppendJSON(req.Body)
	req.Header = standardHeader
	return nil
}

// standardHeader is shared by every standard request; a request's Header
// is read, never written, once rendered.
var standardHeader = contentType(jsonType)

type raw struct{}

func compileRaw(*Spec, *compiler) renderer { return raw{} }

func (raw) render(req *Request, in *Input, _ *scratch) error {
	req.Body = append(req.Body, in.Event.Raw...)
	req.Header = standardHeader
	return nil
}
