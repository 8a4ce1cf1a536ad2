package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookstream/hookstream/admin"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/subscription"
)

const subsUsage = `Usage:
  hookstream subs list [--name S] [--enabled true|false]
  hookstream subs get ID
  hookstream subs create (-f FILE | --name N --url U [filter flags])
  hookstream subs update ID (-f FILE | [--name N] [--url U] [--enabled B] [filter flags])
  hookstream subs delete ID
  hookstream subs test ID [--event JSON]
  hookstream subs preview ID [--event JSON]
  hookstream subs rotate-secret ID [--secret whsec_...|whsk_...]
  hookstream subs attempts ID [--limit N]

Filter flags: --types, --levels, --sources (comma-separated). --payload
and --auth take the JSON of those fields ('{"format":"slack"}',
'{"type":"bearer","token":"..."}'); create takes --signing v1a for an
ed25519 key. preview shows the request a subscription's endpoint would
get for an event (default a sample), with secrets masked, sending nothing.
Every command takes --server URL and -o table|json|yaml; the token comes
from HOOKSTREAM_TOKEN. -f FILE holds a JSON or YAML request body ("-" is
stdin). Exit codes: 0 done, 1 failed, 2 usage, 3 not found.
`

func subsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af, err := subcommand("subs", subsUsage, args, stderr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		return subsList(ctx, fs, af, args[1:], stdout)
	case "get", "delete", "attempts":
		return subsByID(ctx, args[0], fs, af, args[1:], stdout)
	case "create", "update":
		return subsWrite(ctx, args[0], fs, af, args[1:], stdout)
	case "test":
		return subsTest(ctx, fs, af, args[1:], stdout)
	case "preview":
		return subsPreview(ctx, fs, af, args[1:], stdout)
	case "rotate-secret":
		return subsRotate(ctx, fs, af, args[1:], stdout)
	default:
		fmt.Fprintf(stderr, "hookstream subs: unknown command %q\n\n%s", args[0], subsUsage)
		return errUsage
	}
}

// setup parses the flags, checks the number of positional arguments and
// returns them with the API client.
func setup(fs *flag.FlagSet, af *apiFlags, args []string, want int, what string) ([]string, *client, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != want {
		return nil, nil, usageError("%s: want %s", fs.Name(), what)
	}
	c, err := af.client()
	return pos, c, err
}

func subsList(ctx context.Context, fs *flag.FlagSet, af *apiFlags, args []string, stdout io.Writer) error {
	name := fs.String("name", "", "only names containing this (case-insensitive)")
	enabled := fs.String("enabled", "", "only enabled (true) or disabled (false) subscriptions")
	_, c, err := setup(fs, af, args, 0, "no arguments")
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"1000"}}
	if *name != "" {
		q.Set("name", *name)
	}
	if *enabled != "" {
		q.Set("enabled", *enabled)
	}
	var all []subscription.Subscription
	for {
		var page struct {
			Data []subscription.Subscription `json:"data"`
			Next string                      `json:"next_cursor"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/subscriptions?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		all = append(all, page.Data...)
		if page.Next == "" {
			break
		}
		q.Set("cursor", page.Next)
	}
	if all == nil {
		all = []subscription.Subscription{}
	}
	return printer{stdout, af.output}.print(all, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tENABLED\tURL\tFILTER")
		for _, s := range all {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, describeEnabled(s), s.URL, describeFilter(s.Filter))
		}
	})
}

// describeEnabled is "true", "false", or why hookstream disabled it:
// "false (gone)".
func describeEnabled(s subscription.Subscription) string {
	if !s.Enabled && s.DisabledReason != "" {
		return fmt.Sprintf("false (%s)", s.DisabledReason)
	}
	return strconv.FormatBool(s.Enabled)
}

func describeFilter(f subscription.Filter) string {
	var parts []string
	for _, p := range []struct {
		name string
		vals []string
	}{{"types", f.Types}, {"levels", f.Levels}, {"sources", f.Sources}} {
		if len(p.vals) > 0 {
			parts = append(parts, p.name+"="+strings.Join(p.vals, ","))
		}
	}
	for _, w := range f.Where {
		parts = append(parts, fmt.Sprintf("%s %s %v", w.Path, w.Op, w.Value))
	}
	if len(parts) == 0 {
		return "(every event)"
	}
	return strings.Join(parts, "; ")
}

func printSub(p printer, s subscription.Subscription) error {
	return p.print(s, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "id:\t%s\n", s.ID)
		fmt.Fprintf(w, "name:\t%s\n", s.Name)
		fmt.Fprintf(w, "url:\t%s\n", s.URL)
		fmt.Fprintf(w, "enabled:\t%s\n", describeEnabled(s))
		if s.DisabledAt != nil {
			fmt.Fprintf(w, "disabled_at:\t%s\n", s.DisabledAt.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "filter:\t%s\n", describeFilter(s.Filter))
		if r := s.RateLimit; r != nil {
			fmt.Fprintf(w, "rate_limit:\t%v/s, burst %d\n", r.PerSecond, r.Burst)
		}
		fmt.Fprintf(w, "payload:\t%s\n", cmp.Or(string(s.Payload.Format), "standard"))
		if s.Auth != nil {
			fmt.Fprintf(w, "auth:\t%s\n", s.Auth.Type)
		}
		fmt.Fprintf(w, "secret:\t%s\n", s.Secret)
		if s.PublicKey != "" {
			fmt.Fprintf(w, "public_key:\t%s\n", s.PublicKey)
		}
		fmt.Fprintf(w, "max_attempts:\t%d\n", s.MaxAttempts)
		fmt.Fprintf(w, "timeout:\t%s\n", time.Duration(s.Timeout))
		fmt.Fprintf(w, "updated_at:\t%s\n", s.UpdatedAt.Format(time.RFC3339))
	})
}

func subsByID(ctx context.Context, verb string, fs *flag.FlagSet, af *apiFlags, args []string, stdout io.Writer) error {
	limit := 0
	if verb == "attempts" {
		fs.IntVar(&limit, "limit", 50, "attempts to show, newest first (1–1000)")
	}
	pos, c, err := setup(fs, af, args, 1, "one subscription ID")
	if err != nil {
		return err
	}
	path := "/v1/subscriptions/" + url.PathEscape(pos[0])
	p := printer{stdout, af.output}
	switch verb {
	case "delete":
		if err := c.do(ctx, http.MethodDelete, path, nil, nil); err != nil {
			return err
		}
		return p.print(map[string]any{"deleted": pos[0]}, func(w *tabwriter.Writer) { fmt.Fprintf(w, "deleted %s\n", pos[0]) })
	case "attempts":
		var resp struct {
			Data []history.Attempt `json:"data"`
		}
		if err := c.do(ctx, http.MethodGet, path+"/attempts?limit="+strconv.Itoa(limit), nil, &resp); err != nil {
			return err
		}
		return p.print(resp.Data, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "TIME\tWEBHOOK-ID\tATTEMPT\tRUNG\tOUTCOME\tSTATUS\tLATENCY\tNEXT\tERROR")
			for _, a := range resp.Data {
				rung := a.Rung
				if rung == "" {
					rung = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%.1fms\t%s\t%s\n", a.Time.Format(time.RFC3339), a.WebhookID,
					a.Number, rung, a.Outcome, a.Status, a.LatencyMS, a.Next, a.Error)
			}
		})
	default:
		var s subscription.Subscription
		if err := c.do(ctx, http.MethodGet, path, nil, &s); err != nil {
			return err
		}
		return printSub(p, s)
	}
}

// readInput reads the file at path, or stdin for "-".
func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// readBody reads a JSON or YAML request body from path ("-": stdin).
func readBody(path string) (map[string]any, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, err
	}
	var body map[string]any
	if err := yaml.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if body == nil {
		return nil, fmt.Errorf("%s: empty; a JSON or YAML object is required", path)
	}
	return body, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func subsWrite(ctx context.Context, verb string, fs *flag.FlagSet, af *apiFlags, args []string, stdout io.Writer) error {
	file := fs.String("f", "", "JSON or YAML request body (- for stdin)")
	name := fs.String("name", "", "name")
	target := fs.String("url", "", "destination URL")
	enabled := fs.String("enabled", "", "true or false")
	types := fs.String("types", "", "event types, comma-separated")
	levels := fs.String("levels", "", "levels, comma-separated")
	sources := fs.String("sources", "", "sources or globs, comma-separated")
	payloadJSON := fs.String("payload", "", `the payload, as JSON: '{"format":"slack"}'`)
	authJSON := fs.String("auth", "", `the endpoint's auth, as JSON: '{"type":"bearer","token":"..."}'; "null" removes it`)
	signing := fs.String("signing", "", "create: v1 (HMAC, the default) or v1a (ed25519)")
	want, what := 0, "no arguments"
	if verb == "update" {
		want, what = 1, "one subscription ID"
	}
	pos, c, err := setup(fs, af, args, want, what)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if *file != "" {
		if body, err = readBody(*file); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["name"] {
		body["name"] = *name
	}
	if set["url"] {
		body["url"] = *target
	}
	if set["enabled"] {
		b, err := strconv.ParseBool(*enabled)
		if err != nil {
			return usageError("--enabled must be true or false")
		}
		body["enabled"] = b
	}
	for _, f := range []struct {
		key string
		val *string
	}{{"payload", payloadJSON}, {"auth", authJSON}} {
		if set[f.key] {
			if !json.Valid([]byte(*f.val)) {
				return usageError("--%s must be JSON", f.key)
			}
			body[f.key] = rawJSON(*f.val)
		}
	}
	if set["signing"] {
		if verb != "create" {
			return usageError("--signing is for create; rotate-secret keeps a subscription's scheme")
		}
		body["signing"] = *signing
	}
	if set["types"] || set["levels"] || set["sources"] {
		filter, _ := body["filter"].(map[string]any)
		if filter == nil {
			filter = map[string]any{}
		}
		for _, f := range []struct {
			key string
			val *string
		}{{"types", types}, {"levels", levels}, {"sources", sources}} {
			if set[f.key] {
				filter[f.key] = splitList(*f.val)
			}
		}
		body["filter"] = filter
	}
	var s subscription.Subscription
	if verb == "create" {
		if err := c.do(ctx, http.MethodPost, "/v1/subscriptions", body, &s); err != nil {
			return err
		}
	} else {
		if len(body) == 0 {
			return usageError("subs update: nothing to change; give -f or a field flag")
		}
		if err := c.do(ctx, http.MethodPatch, "/v1/subscriptions/"+url.PathEscape(pos[0]), body, &s); err != nil {
			return err
		}
	}
	return printSub(printer{stdout, af.output}, s)
}

func subsTest(ctx context.Context, fs *flag.FlagSet, af *apiFlags, args []string, stdout io.Writer) error {
	event := fs.String("event", "", "the log event to send, a JSON object; default a sample")
	pos, c, err := setup(fs, af, args, 1, "one subscription ID")
	if err != nil {
		return err
	}
	body, err := eventBody(*event)
	if err != nil {
		return err
	}
	var res admin.TestResult
	if err := c.do(ctx, http.MethodPost, "/v1/subscriptions/"+url.PathEscape(pos[0])+"/test", body, &res); err != nil {
		return err
	}
	err = printer{stdout, af.output}.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "webhook-id:\t%s\noutcome:\t%s (%s)\nstatus:\t%d\nlatency:\t%.1fms\n",
			res.WebhookID, res.Outcome, res.Reason, res.Status, res.LatencyMS)
		if res.Error != "" {
			fmt.Fprintf(w, "error:\t%s\n", res.Error)
		}
		if res.ResponseBody != "" {
			fmt.Fprintf(w, "body:\t%s\n", strings.TrimSpace(res.ResponseBody))
		}
	})
	if err == nil && res.Outcome != "delivered" {
		return fmt.Errorf("test delivery not delivered: %s", res.Reason)
	}
	return err
}

func subsPreview(ctx context.Context, fs *flag.FlagSet, af *apiFlags, args []string, stdout io.Writer) error {
	event := fs.String("event", "", "the log event to render, a JSON object; default a sample")
	pos, c, err := setup(fs, af, args, 1, "one subscription ID")
	if err != nil {
		return err
	}
	body, err := eventBody(*event)
	if err != nil {
		return err
	}
	var res admin.Preview
	if err := c.do(ctx, http.MethodPost, "/v1/subscriptions/"+url.PathEscape(pos[0])+"/preview", body, &res); err != nil {
		return err
	}
	return printer{stdout, af.output}.print(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "%s %s\n", res.Method, res.URL)
		names := make([]string, 0, len(res.Headers))
		for k := range res.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			fmt.Fprintf(w, "%s: %s\n", k, res.Headers[k])
		}
		fmt.Fprintf(w, "\n%s\n", res.Body)
	})
}

// eventBody is the body of a test or preview request for --event:
// nothing (a sample) when it is empty.
func eventBody(event string) (any, error) {
	if event == "" {
		return nil, nil
	}
	if !json.Valid([]byte(event)) {
		return nil, usageError("--event must be a JSON object")
	}
	return map[string]any{"event": rawJSON(event)}, nil
}

// rawJSON is a JSON text passed through as it is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func subsRotate(ctx context.Context, fs *flag.FlagSet, af *apiFlags, args []string, stdout io.Writer) error {
	secret := fs.String("secret", "", "the new secret (whsec_... or whsk_...); default a generated one of the current scheme")
	pos, c, err := setup(fs, af, args, 1, "one subscription ID")
	if err != nil {
		return err
	}
	var body any
	if *secret != "" {
		body = map[string]string{"secret": *secret}
	}
	var s subscription.Subscription
	if err := c.do(ctx, http.MethodPost, "/v1/subscriptions/"+url.PathEscape(pos[0])+"/rotate-secret", body, &s); err != nil {
		return err
	}
	return printSub(printer{stdout, af.output}, s)
}
