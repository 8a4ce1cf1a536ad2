package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/subscription"
)

const applyUsage = `Usage:
  hookstream apply -f FILE [--prune] [--dry-run]

Makes the stored subscriptions match FILE, a YAML (or JSON) document:

  subscriptions:
    - id: payment-errors          # required: the subscription's identity
      name: Payment errors
      url: https://hooks.example.com/payments
      filter: {levels: [error], sources: ["payment-*"]}
      max_attempts: 8
      timeout: 5s
    - id: disk-alerts
      name: Disk alerts to PagerDuty
      url: https://events.pagerduty.com/v2/enqueue
      filter: {types: [disk.usage]}
      payload:
        format: pagerduty
        routing_key: R0UT1NGK3Y...
        dedup_key: "disk/{{ .host }}"
        resolve_when: {levels: [info]}

  sources:                        # inbound webhook sources, when the file manages them
    - id: stripe
      name: Stripe
      provider: stripe
      secrets: [whsec_...]        # used when the source is created
      topic: payments-inbound

Fields a file gives are managed; fields it leaves out keep their stored
values (a new subscription takes the server's defaults). A secret in the
file is used when the subscription or source is created and ignored
afterwards: rotate secrets with "hookstream subs rotate-secret" and
"hookstream sources rotate-secret". A source is managed whole: what the
file leaves out takes its default. --prune deletes stored subscriptions
the file does not list, and stored sources when the file has a sources
key. --dry-run prints the changes
and makes none. A second apply of the same file changes nothing.
`

// managed are the fields a file may set.
var managed = []string{"name", "url", "enabled", "filter", "headers", "max_attempts", "timeout", "rate_limit", "payload", "auth", "secret"}

// change is one line of an apply plan.
type change struct {
	Action string   `json:"action"` // create, update, delete or unchanged
	Kind   string   `json:"kind"`   // subscription or source
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Fields []string `json:"fields,omitempty"` // the fields an update changes
	body   map[string]any
}

func applyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, applyUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	file := fs.String("f", "", "the subscriptions file (- for stdin)")
	prune := fs.Bool("prune", false, "delete stored subscriptions the file does not list")
	dryRun := fs.Bool("dry-run", false, "print the changes, make none")
	_, c, err := setup(fs, &af, args, 0, "no arguments")
	if err != nil {
		return err
	}
	if *file == "" {
		return usageError("apply: -f FILE is required")
	}
	desired, sources, err := readApplyFile(*file)
	if err != nil {
		return err
	}
	current, err := listAll(ctx, c)
	if err != nil {
		return err
	}
	plan, err := makePlan(desired, current, *prune)
	if err != nil {
		return err
	}
	if sources != nil {
		var stored struct {
			Data []gateway.Source `json:"data"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/sources", nil, &stored); err != nil {
			return err
		}
		more, err := makeSourcePlan(sources, stored.Data, *prune)
		if err != nil {
			return err
		}
		plan = append(plan, more...)
	}
	if !*dryRun {
		for i, ch := range plan {
			if err := applyChange(ctx, c, ch); err != nil {
				return fmt.Errorf("%s %s: %w (%d of %d changes made)", ch.Action, ch.ID, err, countChanges(plan[:i]), countChanges(plan))
			}
		}
	}
	summary := map[string]int{"create": 0, "update": 0, "delete": 0, "unchanged": 0}
	for _, ch := range plan {
		summary[ch.Action]++
	}
	out := map[string]any{"changes": plan, "summary": summary, "dry_run": *dryRun}
	return printer{stdout, af.output}.print(out, func(w *tabwriter.Writer) {
		signs := map[string]string{"create": "+", "update": "~", "delete": "-", "unchanged": "="}
		for _, ch := range plan {
			line := fmt.Sprintf("%s %s\t%s\t%s\t%s", signs[ch.Action], ch.Action, ch.Kind, ch.ID, ch.Name)
			if len(ch.Fields) > 0 {
				line += "\t(" + strings.Join(ch.Fields, ", ") + ")"
			}
			fmt.Fprintln(w, line)
		}
		verb := ""
		if *dryRun {
			verb = " (dry run: nothing changed)"
		}
		fmt.Fprintf(w, "%d to create, %d to update, %d to delete, %d unchanged%s\n",
			summary["create"], summary["update"], summary["delete"], summary["unchanged"], verb)
	})
}

func countChanges(plan []change) int {
	n := 0
	for _, ch := range plan {
		if ch.Action != "unchanged" {
			n++
		}
	}
	return n
}

// readApplyFile reads and checks a subscriptions file. Its sources are
// nil when it has no sources key, so that --prune leaves them alone.
func readApplyFile(path string) ([]map[string]any, []gateway.Source, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Subscriptions []map[string]any `yaml:"subscriptions"`
		Sources       []map[string]any `yaml:"sources"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	var problems []string
	for i, s := range doc.Subscriptions {
		at := fmt.Sprintf("subscriptions[%d]", i)
		id, _ := s["id"].(string)
		if id == "" {
			problems = append(problems, at+".id: is required")
		} else if seen[id] {
			problems = append(problems, fmt.Sprintf("%s.id: %q is listed twice", at, id))
		}
		seen[id] = true
		for k := range s {
			if k != "id" && !slices.Contains(managed, k) {
				problems = append(problems, fmt.Sprintf("%s.%s: unknown field; known: id, %s", at, k, strings.Join(managed, ", ")))
			}
		}
		// Through JSON, so values compare as the API's do.
		b, err := json.Marshal(s)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", at, err))
			continue
		}
		doc.Subscriptions[i] = nil
		_ = json.Unmarshal(b, &doc.Subscriptions[i])
	}
	var sources []gateway.Source
	if doc.Sources != nil {
		sources = []gateway.Source{}
	}
	seenSrc := map[string]bool{}
	for i, raw := range doc.Sources {
		at := fmt.Sprintf("sources[%d]", i)
		b, err := json.Marshal(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", at, err))
			continue
		}
		var src gateway.Source
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&src); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", at, err))
			continue
		}
		switch {
		case src.ID == "":
			problems = append(problems, at+".id: is required")
		case seenSrc[src.ID]:
			problems = append(problems, fmt.Sprintf("%s.id: %q is listed twice", at, src.ID))
		}
		seenSrc[src.ID] = true
		if _, given := raw["enabled"]; !given {
			src.Enabled = true
		}
		sources = append(sources, src)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, nil, fmt.Errorf("%s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return doc.Subscriptions, sources, nil
}

// makeSourcePlan compares the file's sources with the stored ones. A
// source's secrets are used when it is created; rotate them with
// "hookstream sources rotate-secret".
func makeSourcePlan(desired, current []gateway.Source, prune bool) ([]change, error) {
	byID := map[string]gateway.Source{}
	for _, s := range current {
		byID[s.ID] = s
	}
	var plan []change
	for _, want := range desired {
		ch := change{Kind: "source", ID: want.ID, Name: want.Name}
		have, ok := byID[want.ID]
		if !ok {
			ch.Action, ch.body = "create", sourceBody(want, true)
			plan = append(plan, ch)
			continue
		}
		a, b := sourceFields(want), sourceFields(have)
		for _, k := range slices.Sorted(maps.Keys(a)) {
			if a[k] != b[k] {
				ch.Fields = append(ch.Fields, k)
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				ch.Fields = append(ch.Fields, k)
			}
		}
		ch.Action = "unchanged"
		if len(ch.Fields) > 0 {
			ch.Action, ch.body = "update", sourceBody(want, false)
		}
		plan = append(plan, ch)
	}
	if prune {
		listed := map[string]bool{}
		for _, s := range desired {
			listed[s.ID] = true
		}
		for _, s := range current {
			if !listed[s.ID] {
				plan = append(plan, change{Action: "delete", Kind: "source", ID: s.ID, Name: s.Name})
			}
		}
	}
	return plan, nil
}

// sourceFields renders the managed fields of s, with their defaults, as
// JSON values by name.
func sourceFields(s gateway.Source) map[string]string {
	s = s.WithDefaults()
	s.Secrets, s.CreatedAt, s.UpdatedAt = nil, time.Time{}, time.Time{}
	b, _ := json.Marshal(s)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k != "created_at" && k != "updated_at" && k != "id" {
			out[k] = string(v)
		}
	}
	return out
}

// sourceBody is the request body that creates or replaces s.
func sourceBody(s gateway.Source, withSecrets bool) map[string]any {
	if !withSecrets {
		s.Secrets = nil
	}
	b, _ := json.Marshal(s)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "created_at")
	delete(m, "updated_at")
	return m
}

// listAll returns every stored subscription as the API shows it.
func listAll(ctx context.Context, c *client) ([]map[string]any, error) {
	var all []map[string]any
	q := url.Values{"limit": {"1000"}}
	for {
		var page struct {
			Data []map[string]any `json:"data"`
			Next string           `json:"next_cursor"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/subscriptions?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.Next == "" {
			return all, nil
		}
		q.Set("cursor", page.Next)
	}
}

// makePlan compares the file with what is stored.
func makePlan(desired, current []map[string]any, prune bool) ([]change, error) {
	byID := map[string]map[string]any{}
	for _, s := range current {
		id, _ := s["id"].(string)
		byID[id] = s
	}
	var plan []change
	listed := map[string]bool{}
	for _, want := range desired {
		id := want["id"].(string)
		listed[id] = true
		name, _ := want["name"].(string)
		have, ok := byID[id]
		if !ok {
			plan = append(plan, change{Action: "create", Kind: "subscription", ID: id, Name: name, body: want})
			continue
		}
		if name == "" {
			name, _ = have["name"].(string)
		}
		ch := change{Action: "unchanged", Kind: "subscription", ID: id, Name: name}
		body := map[string]any{}
		for _, k := range managed {
			if k == "secret" {
				continue
			}
			v, given := want[k]
			if !given {
				v = have[k]
			}
			body[k] = v
			if !given {
				continue
			}
			a, err := canonical(k, shown(k, v))
			if err != nil {
				return nil, fmt.Errorf("subscription %s: %s: %w", id, k, err)
			}
			b, _ := canonical(k, have[k])
			if a != b {
				ch.Fields = append(ch.Fields, k)
			}
		}
		if len(ch.Fields) > 0 {
			ch.Action, ch.body = "update", body
		}
		plan = append(plan, ch)
	}
	if prune {
		var gone []change
		for _, s := range current {
			id, _ := s["id"].(string)
			if !listed[id] {
				name, _ := s["name"].(string)
				gone = append(gone, change{Action: "delete", Kind: "subscription", ID: id, Name: name})
			}
		}
		plan = append(plan, gone...)
	}
	return plan, nil
}

// shown is a field's value as the API shows it, masked: the file's header
// values and URL compare with the stored ones as far as they are shown (a
// change hidden by the mask, after a value's first four characters, is
// made with "hookstream subs update").
func shown(field string, v any) any {
	switch field {
	case "url":
		if u, ok := v.(string); ok {
			return subscription.MaskURL(u)
		}
	case "headers":
		if h, ok := v.(map[string]any); ok {
			masked := make(map[string]any, len(h))
			for k, val := range h {
				if s, ok := val.(string); ok {
					masked[k] = subscription.MaskValue(s)
				} else {
					masked[k] = val
				}
			}
			return masked
		}
	case "payload":
		var p payload.Spec
		if b, err := json.Marshal(v); err == nil && json.Unmarshal(b, &p) == nil {
			return subscription.Subscription{Payload: p}.Masked().Payload
		}
	case "auth":
		var a credential.Spec
		if b, err := json.Marshal(v); v != nil && err == nil && json.Unmarshal(b, &a) == nil {
			return subscription.Subscription{Auth: &a}.Masked().Auth
		}
	}
	return v
}

// canonical renders a field's value so that equal settings compare equal
// however they are written: "1m" and "1m0s", an empty list and none.
func canonical(field string, v any) (string, error) {
	if v == nil {
		return "null", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	switch field {
	case "timeout":
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", fmt.Errorf("must be a duration such as \"10s\"")
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return "", err
		}
		return d.String(), nil
	case "filter":
		var f subscription.Filter
		if err := json.Unmarshal(b, &f); err != nil {
			return "", err
		}
		b, err = json.Marshal(f)
		return string(b), err
	case "payload":
		var p payload.Spec
		if err := json.Unmarshal(b, &p); err != nil {
			return "", err
		}
		b, err = json.Marshal(p)
		return string(b), err
	case "auth":
		var a credential.Spec
		if err := json.Unmarshal(b, &a); err != nil {
			return "", err
		}
		b, err = json.Marshal(a)
		return string(b), err
	case "rate_limit":
		var r subscription.RateLimit
		if err := json.Unmarshal(b, &r); err != nil {
			return "", err
		}
		b, err = json.Marshal(r)
		return string(b), err
	case "headers":
		var h map[string]string
		if err := json.Unmarshal(b, &h); err != nil {
			return "", err
		}
		if len(h) == 0 {
			return "null", nil
		}
		b, err = json.Marshal(h)
		return string(b), err
	}
	return string(b), nil
}

func applyChange(ctx context.Context, c *client, ch change) error {
	collection := "/v1/subscriptions"
	if ch.Kind == "source" {
		collection = "/v1/sources"
	}
	path := collection + "/" + url.PathEscape(ch.ID)
	switch ch.Action {
	case "create":
		return c.do(ctx, http.MethodPost, collection, ch.body, nil)
	case "update":
		return c.do(ctx, http.MethodPut, path, ch.body, nil)
	case "delete":
		return c.do(ctx, http.MethodDelete, path, nil, nil)
	}
	return nil
}
