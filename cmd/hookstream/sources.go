package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/hookstream/hookstream/gateway"
)

const sourcesUsage = `Usage:
  hookstream sources list
  hookstream sources get ID
  hookstream sources create (-f FILE | --id ID --name N --provider P [--secret S] [--topic T])
  hookstream sources update ID -f FILE
  hookstream sources delete ID
  hookstream sources rotate-secret ID [--secret S]

Inbound sources receive webhooks at the gateway's /in/{id}. Providers:
stripe, github, slack, shopify, standard, hmac, basic, api_key, none. A
secret is made for standard, hmac and api_key when none is given; the
others take the one their provider shows. -f FILE holds a JSON or YAML
source with every option ("-" is stdin); update replaces the source with
it, keeping its secrets unless the file gives them.
`

func sourcesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, af, err := subcommand("sources", sourcesUsage, args, stderr)
	if err != nil {
		return err
	}
	// The output flag is read once the flags are parsed.
	out := func() printer { return printer{stdout, af.output} }
	switch args[0] {
	case "list":
		_, c, err := setup(fs, af, args[1:], 0, "no arguments")
		if err != nil {
			return err
		}
		var page struct {
			Data []gateway.Source `json:"data"`
		}
		if err := c.do(ctx, http.MethodGet, "/v1/sources", nil, &page); err != nil {
			return err
		}
		if page.Data == nil {
			page.Data = []gateway.Source{}
		}
		return out().print(page.Data, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tNAME\tPROVIDER\tENABLED\tTOPIC")
			for _, s := range page.Data {
				fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", s.ID, s.Name, s.Provider, s.Enabled, s.Topic)
			}
		})
	case "get", "delete":
		pos, c, err := setup(fs, af, args[1:], 1, "one source ID")
		if err != nil {
			return err
		}
		path := "/v1/sources/" + url.PathEscape(pos[0])
		if args[0] == "delete" {
			return c.do(ctx, http.MethodDelete, path, nil, nil)
		}
		var s gateway.Source
		if err := c.do(ctx, http.MethodGet, path, nil, &s); err != nil {
			return err
		}
		return printSource(out(), s)
	case "create":
		file := fs.String("f", "", "JSON or YAML source (- for stdin)")
		id := fs.String("id", "", "the source's id, its path /in/{id}")
		name := fs.String("name", "", "name")
		provider := fs.String("provider", "", "provider")
		secret := fs.String("secret", "", "the secret the provider shows (default: one made, for standard, hmac and api_key)")
		topic := fs.String("topic", "", "topic to publish to (default: the first input topic)")
		_, c, err := setup(fs, af, args[1:], 0, "no arguments")
		if err != nil {
			return err
		}
		body := map[string]any{}
		if *file != "" {
			if body, err = readBody(*file); err != nil {
				return err
			}
		}
		for k, v := range map[string]string{"id": *id, "name": *name, "provider": *provider, "topic": *topic} {
			if v != "" {
				body[k] = v
			}
		}
		if *secret != "" {
			body["secrets"] = []string{*secret}
		}
		var s gateway.Source
		if err := c.do(ctx, http.MethodPost, "/v1/sources", body, &s); err != nil {
			return err
		}
		return printSource(out(), s)
	case "update":
		file := fs.String("f", "", "JSON or YAML source (- for stdin)")
		pos, c, err := setup(fs, af, args[1:], 1, "one source ID")
		if err != nil {
			return err
		}
		if *file == "" {
			return usageError("sources update: -f FILE is required")
		}
		body, err := readBody(*file)
		if err != nil {
			return err
		}
		var s gateway.Source
		if err := c.do(ctx, http.MethodPut, "/v1/sources/"+url.PathEscape(pos[0]), body, &s); err != nil {
			return err
		}
		return printSource(out(), s)
	case "rotate-secret":
		secret := fs.String("secret", "", "the new secret (default: one made, for standard, hmac and api_key)")
		pos, c, err := setup(fs, af, args[1:], 1, "one source ID")
		if err != nil {
			return err
		}
		var body any
		if *secret != "" {
			body = map[string]string{"secret": *secret}
		}
		var s gateway.Source
		if err := c.do(ctx, http.MethodPost, "/v1/sources/"+url.PathEscape(pos[0])+"/rotate-secret", body, &s); err != nil {
			return err
		}
		return printSource(out(), s)
	default:
		fmt.Fprintf(stderr, "hookstream sources: unknown command %q\n\n%s", args[0], sourcesUsage)
		return errUsage
	}
}

func printSource(p printer, s gateway.Source) error {
	return p.print(s, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "id:\t%s\nname:\t%s\nprovider:\t%s\nenabled:\t%v\n", s.ID, s.Name, s.Provider, s.Enabled)
		fmt.Fprintf(w, "secrets:\t%s\n", strings.Join(s.Secrets, ", "))
		if s.Topic != "" {
			fmt.Fprintf(w, "topic:\t%s\n", s.Topic)
		}
		fmt.Fprintf(w, "path:\t/in/%s\n", s.ID)
	})
}
