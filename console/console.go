// Package console is hookstream's operator console: a web page served by
// the admin listener at /ui/ that shows and steers deliveries live. It is
// plain HTML, CSS and JavaScript embedded in the binary; it works with
// no network beyond the admin API and needs no build step.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed ui
var files embed.FS

// Policy is the Content-Security-Policy of every console response: the
// page loads its own script and style and talks to its own origin, and
// nothing else (no inline script or style, no frames, no forms posted
// elsewhere).
const Policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console under prefix (for example "/ui/").
func Handler(prefix string) http.Handler {
	ui, err := fs.Sub(files, "ui")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix(prefix, http.FileServerFS(ui))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", Policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// A new version of hookstream serves its own files at once.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
