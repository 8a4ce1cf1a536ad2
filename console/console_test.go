package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// Every file the page loads is served from the binary, with the
// console's security headers.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler("/ui/"))
	t.Cleanup(srv.Close)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, index := get("/ui/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /ui/: %d", resp.StatusCode)
	}
	refs := regexp.MustCompile(`(?:src|href)="([a-z]+\.(?:js|css))"`).FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html loads %d files, want the script and the style sheet", len(refs))
	}
	for _, ref := range append([][]string{{"", ""}}, refs...) {
		resp, _ := get("/ui/" + ref[1])
		if resp.StatusCode != 200 {
			t.Errorf("GET /ui/%s: %d", ref[1], resp.StatusCode)
		}
		for header, want := range map[string]string{
			"Content-Security-Policy": Policy, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("GET /ui/%s: %s = %q, want %q", ref[1], header, got, want)
			}
		}
	}
	if resp, _ := get("/ui/nothing.js"); resp.StatusCode != 404 {
		t.Errorf("GET /ui/nothing.js: %d, want 404", resp.StatusCode)
	}
}
