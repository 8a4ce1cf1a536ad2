package main

import (
	"os"
	"os/exec"
	"testing"
)

// TestSchemathesis runs schemathesis (https://schemathesis.io, from PyPI)
// against a running instance's live API, generating requests from its
// OpenAPI document: no answer may be a 5xx, and every answer must conform
// to the document (status code, content type, headers, body schema).
//
// HOOKSTREAM_SCHEMATHESIS names the executable (default: schemathesis on
// PATH); HOOKSTREAM_SCHEMATHESIS_EXAMPLES the examples per operation.
func TestSchemathesis(t *testing.T) {
	st := os.Getenv("HOOKSTREAM_SCHEMATHESIS")
	if st == "" {
		st = "schemathesis"
	}
	path, err := exec.LookPath(st)
	if err != nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatalf("schemathesis is required (HOOKSTREAM_TEST_REQUIRE_TOOLS=1): pip install schemathesis: %v", err)
		}
		t.Skip("schemathesis not installed (pip install schemathesis)")
	}
	examples := os.Getenv("HOOKSTREAM_SCHEMATHESIS_EXAMPLES")
	if examples == "" {
		examples = "30"
	}
	e := newCLIEnv(t)
	cmd := exec.Command(path, "run", e.server+"/v1/openapi.json",
		"--header", "Authorization: Bearer "+e.token,
		"--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
		"--max-examples", examples, "--seed", "1", "--workers", "1", "--request-timeout", "20",
		// A stream does not end; TestStatsStream reads it.
		"--exclude-operation-id", "streamStats",
		"--report", "junit", "--report-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "SCHEMATHESIS_TELEMETRY=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("schemathesis found problems (%v):\n%s", err, out)
	}
	t.Logf("schemathesis:\n%s", tail(out, 40))
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if lines++; lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
