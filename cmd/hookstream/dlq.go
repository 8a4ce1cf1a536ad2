package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookstream/hookstream/dlq"
)

const dlqUsage = `Usage:
  hookstream dlq list [--subscription ID] [--since T] [--until T] [--limit N]
  hookstream dlq replay (--subscription ID | --since T | --until T | --id ID ... | --all) [--dry-run]
  hookstream stats

Times are RFC 3339 (2026-01-02T15:04:05Z) or a duration back from now
(90m, 24h). A replay writes each selected delivery to the first retry rung
with a fresh attempt count and its webhook-id unchanged.
`

// idList collects repeated --id flags.
type idList []string

func (l *idList) String() string     { return strings.Join(*l, ",") }
func (l *idList) Set(v string) error { *l = append(*l, splitList(v)...); return nil }

// parseTime reads an RFC 3339 time or a duration back from now.
func parseTime(flagName, v string, now time.Time) (string, error) {
	if v == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.Format(time.RFC3339Nano), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	return "", usageError("--%s must be an RFC 3339 time or a duration such as 24h, not %q", flagName, v)
}

func dlqCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprint(stderr, dlqUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("dlq "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af apiFlags
	af.register(fs)
	sub := fs.String("subscription", "", "only this subscription's deliveries")
	since := fs.String("since", "", "only records written at or after this time")
	until := fs.String("until", "", "only records written at or before this time")
	if args[0] == "list" {
		limit := fs.Int("limit", 100, "records to show (1–1000); the listing pages through the rest")
		_, c, err := setup(fs, &af, args[1:], 0, "no arguments")
		if err != nil {
			return err
		}
		q := url.Values{"limit": {strconv.Itoa(*limit)}}
		if err := timeQuery(q, *since, *until); err != nil {
			return err
		}
		if *sub != "" {
			q.Set("subscription", *sub)
		}
		var page dlq.Page
		if err := c.do(ctx, http.MethodGet, "/v1/dlq?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		if page.Records == nil {
			page.Records = []dlq.Record{}
		}
		return printer{stdout, af.output}.print(page, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tTIME\tKIND\tSUBSCRIPTION\tWEBHOOK-ID\tATTEMPTS\tREASON\tERROR")
			for _, r := range page.Records {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Time.Format(time.RFC3339), r.Kind,
					dash(r.Subscription), dash(r.WebhookID), r.Attempts, r.Reason, r.Error)
			}
			if page.Next != "" {
				fmt.Fprintf(w, "(more: -o json shows next_cursor)\n")
			}
		})
	}
	var ids idList
	fs.Var(&ids, "id", "a DLQ record id, <partition>-<offset>; repeat or separate with commas")
	all := fs.Bool("all", false, "replay the whole DLQ")
	dryRun := fs.Bool("dry-run", false, "count what would be replayed, write nothing")
	_, c, err := setup(fs, &af, args[1:], 0, "no arguments")
	if err != nil {
		return err
	}
	q := url.Values{}
	if err := timeQuery(q, *since, *until); err != nil {
		return err
	}
	body := map[string]any{"subscription": *sub, "ids": []string(ids), "all": *all, "dry_run": *dryRun,
		"since": q.Get("since"), "until": q.Get("until")}
	if *sub == "" && len(ids) == 0 && q.Get("since") == "" && q.Get("until") == "" && !*all {
		return usageError("dlq replay: say what to replay: --subscription, --since, --until, --id or --all")
	}
	// A replay stops at the server's scan budget; go on until the end.
	var res dlq.Result
	for {
		var page dlq.Result
		if err := c.do(ctx, http.MethodPost, "/v1/dlq/replay", body, &page); err != nil {
			return err
		}
		res.Scanned += page.Scanned
		res.Matched += page.Matched
		res.Replayed += page.Replayed
		res.SkippedPoison += page.SkippedPoison
		res.DryRun = page.DryRun
		if page.Next == "" {
			break
		}
		body["cursor"] = page.Next
	}
	return printer{stdout, af.output}.print(res, func(w *tabwriter.Writer) {
		n, verb := res.Replayed, "replayed"
		if res.DryRun {
			n, verb = res.Matched-res.SkippedPoison, "would replay"
		}
		fmt.Fprintf(w, "%s %d of %d matching records (%d scanned, %d poison records skipped)\n",
			verb, n, res.Matched, res.Scanned, res.SkippedPoison)
	})
}

func timeQuery(q url.Values, since, until string) error {
	now := time.Now()
	for _, p := range []struct{ name, v string }{{"since", since}, {"until", until}} {
		t, err := parseTime(p.name, p.v, now)
		if err != nil {
			return err
		}
		if t != "" {
			q.Set(p.name, t)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func statsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var af apiFlags
	af.register(fs)
	_, c, err := setup(fs, &af, args, 0, "no arguments")
	if err != nil {
		return err
	}
	type totals struct {
		ID           string  `json:"id,omitempty"`
		Name         string  `json:"name,omitempty"`
		Attempts     int64   `json:"attempts"`
		Delivered    int64   `json:"delivered"`
		Failed       int64   `json:"failed"`
		Retried      int64   `json:"retried"`
		DeadLettered int64   `json:"dead_lettered"`
		SuccessRate  float64 `json:"success_rate"`
	}
	var st struct {
		Totals        totals   `json:"totals"`
		Subscriptions []totals `json:"subscriptions"`
		InFlight      int      `json:"in_flight"`
		Rungs         []struct {
			Rung    string `json:"rung"`
			Topic   string `json:"topic"`
			Backlog int64  `json:"backlog"`
		} `json:"rungs"`
		DLQ struct {
			Topic   string `json:"topic"`
			Records int64  `json:"records"`
		} `json:"dlq"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/stats", nil, &st); err != nil {
		return err
	}
	return printer{stdout, af.output}.print(st, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "SUBSCRIPTION\tNAME\tATTEMPTS\tDELIVERED\tFAILED\tRETRIED\tDLQ\tSUCCESS")
		for _, s := range append(st.Subscriptions, totals{ID: "total", Attempts: st.Totals.Attempts, Delivered: st.Totals.Delivered,
			Failed: st.Totals.Failed, Retried: st.Totals.Retried, DeadLettered: st.Totals.DeadLettered, SuccessRate: st.Totals.SuccessRate}) {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.1f%%\n", s.ID, dash(s.Name), s.Attempts, s.Delivered, s.Failed,
				s.Retried, s.DeadLettered, 100*s.SuccessRate)
		}
		fmt.Fprintf(w, "\nin flight (this instance):\t%d\n", st.InFlight)
		for _, r := range st.Rungs {
			fmt.Fprintf(w, "rung %s backlog:\t%d\n", r.Rung, r.Backlog)
		}
		fmt.Fprintf(w, "dlq %s:\t%d records\n", st.DLQ.Topic, st.DLQ.Records)
	})
}
