// POST /v1/events: publish an event to the first input topic.

package admin

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/processor"
)

func (a *API) publishEvent(w http.ResponseWriter, r *http.Request) {
	if a.opts.Producer == nil || a.opts.EventsTopic == "" {
		writeProblem(w, http.StatusConflict, "no input topic to publish to: the input is configured by regex")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", a.opts.MaxBodyBytes))
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		writeProblem(w, http.StatusBadRequest, "the body must be a JSON object")
		return
	}
	rec := &kgo.Record{Topic: a.opts.EventsTopic, Value: body}
	res, err := a.opts.Producer.ProduceSync(r.Context(), rec).First()
	if err != nil {
		a.unavailable(w, err)
		return
	}
	routes := []processor.Route{}
	if a.opts.Routes != nil {
		routes = append(routes, a.opts.Routes(res)...)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"topic": res.Topic, "partition": res.Partition, "offset": res.Offset,
		"timestamp": res.Timestamp.UTC(), "deliveries": routes})
}
