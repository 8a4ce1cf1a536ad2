package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"
)

// Exit codes of the API commands, for scripts.
const (
	exitOK       = 0
	exitFailed   = 1 // the request failed: an API error, or no answer
	exitUsage    = 2
	exitNotFound = 3 // the API answered 404
)

// apiError is an error answer of the admin API.
type apiError struct {
	Status int
	Detail string
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for _, fe := range e.Errors {
		if fe.Field != "" {
			fmt.Fprintf(&b, "\n  %s: %s", fe.Field, fe.Message)
		} else {
			fmt.Fprintf(&b, "\n  %s", fe.Message)
		}
	}
	return b.String()
}

// client talks to the admin API.
type client struct {
	server string
	token  string
	http   *http.Client
}

// apiFlags are the flags every API command takes.
type apiFlags struct {
	server string
	output string
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("HOOKSTREAM_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	fs.StringVar(&f.server, "server", def, "admin API base URL (env HOOKSTREAM_SERVER); the token comes from HOOKSTREAM_TOKEN")
	fs.StringVar(&f.output, "o", "table", "output: table, json or yaml")
}

func (f *apiFlags) client() (*client, error) {
	switch f.output {
	case "table", "json", "yaml":
	default:
		return nil, usageError("-o must be table, json or yaml, not %q", f.output)
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError("--server must be an http(s) URL, not %q", f.server)
	}
	return &client{server: strings.TrimSuffix(f.server, "/"), token: os.Getenv("HOOKSTREAM_TOKEN"),
		http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// do sends a request and decodes a 2xx JSON answer into out (unless nil);
// any other answer is an *apiError.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Detail == "" {
			e.Detail = strings.TrimSpace(string(data))
		}
		return e
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

// usageErr is a command line mistake: exit 2.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &usageErr{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps a command's error to its exit code, printing it.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageErr
	var ae *apiError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hookstream: %v\n", err)
		return exitUsage
	case errors.As(err, &ae):
		fmt.Fprintf(stderr, "hookstream: %v\n", err)
		if ae.Status == http.StatusNotFound {
			return exitNotFound
		}
		return exitFailed
	default:
		fmt.Fprintf(stderr, "hookstream: %v\n", err)
		return exitFailed
	}
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// printer writes a command's answer as a table, JSON or YAML.
type printer struct {
	w      io.Writer
	format string
}

// print writes v as JSON or YAML, or with table as a table.
func (p printer) print(v any, table func(w *tabwriter.Writer)) error {
	switch p.format {
	case "json":
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so YAML keys are the API's field names.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		enc := yaml.NewEncoder(p.w)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return err
		}
		return enc.Close()
	default:
		tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
}

// subcommand makes the flag set of "group verb", args[0] being the verb,
// with the API flags; it prints usage and fails when there is no verb.
func subcommand(group, usage string, args []string, stderr io.Writer) (*flag.FlagSet, *apiFlags, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return nil, nil, errUsage
	}
	fs := flag.NewFlagSet(group+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	af := &apiFlags{}
	af.register(fs)
	return fs, af, nil
}
