package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tourBlocks returns the ```sh blocks of README.md's "Five-minute tour"
// section, exactly as written.
func tourBlocks(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Five-minute tour\n")
	if !ok {
		t.Fatal(`README.md has no "## Five-minute tour" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var blocks []string
	for {
		_, rest, ok := strings.Cut(section, "\n```sh\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			t.Fatal("unterminated ```sh block in the tour")
		}
		blocks = append(blocks, block)
		section = "\n" + after
	}
}

// exportLine is "export NAME=VALUE".
var exportLine = regexp.MustCompile(`^export ([A-Z_]+)=(.*)$`)

// tourCheck is what one example of the tour must print.
type tourCheck struct {
	what    string
	want    []string // substrings of the output
	jsonOut bool     // the whole output is one JSON document
}

// TestReadmeTour runs the README's five-minute tour: every ```sh block of
// the section, with sh -c, against crm serve started in-process (fresh
// data directory, embedded event store, a real redis-server as the read
// store, a known admin key), in order, and
// checks each output. The first block sets the variables: CRM and KEY are
// the test's (the README reads the key from data/api-keys), the ids are
// taken as written. Then the tour runs a second time: every command
// carries an Idempotency-Key, so it must answer the same.
func TestReadmeTour(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README tour needs curl on PATH")
	}
	blocks := tourBlocks(t)
	checks := []tourCheck{
		{what: "readiness", want: []string{`"status":"ready"`}, jsonOut: true},
		{what: "register a customer", want: []string{`"stream":"customer-$C"`, `"revision":0`, `"position":"`}, jsonOut: true},
		{what: "log an interaction", want: []string{`"stream":"customer-$C"`, `"revision":1`}, jsonOut: true},
		{what: "place an order", want: []string{`"id":"$ORDER"`, `"stream":"order-$ORDER"`}, jsonOut: true},
		{what: "customer 360 after a level change (read-your-writes)", want: []string{`"name":"Hartley Gifts Ltd"`, `"level":3`}, jsonOut: true},
		{what: "timeline after an email (read-your-writes)", want: []string{`"items":[`, `Sent the order confirmation`, `"type":"OrderPlaced"`, `"type":"InteractionLogged"`}, jsonOut: true},
		{what: "churn risks", want: []string{`"items":[`}, jsonOut: true},
		{what: "audit history", want: []string{`"items":[`, `"type":"CustomerRegistered"`, `"type":"OrderPlaced"`, `"actor":"tour-admin"`}, jsonOut: true},
		{what: "hash-chain verify", want: []string{`"stream":"customer-$C"`, `"ok":true`}, jsonOut: true},
		{what: "openapi and metrics", want: []string{`"openapi": "3.`, `crm_http_request_duration_seconds_count{route="/v1/customers",method="POST",status="2xx"}`, `crm_http_request_duration_seconds_count{route="/v1/customers/:id",method="GET",status="2xx"}`}},
	}
	if len(blocks) != len(checks)+1 {
		t.Fatalf("the tour has %d sh blocks, the test knows %d (setup + %d): update the checks with the README", len(blocks), len(checks)+1, len(checks))
	}

	const key = "crm_tour_test_key_0123456789abcdefghijklmnop"
	srv := startCRM(t, key)
	env := append(os.Environ(), "CRM=http://"+srv.addr, "KEY="+key)
	vars := map[string]string{}
	for _, line := range strings.Split(blocks[0], "\n") {
		m := exportLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			t.Fatalf("setup block line %q: want export NAME=VALUE", line)
		}
		switch m[1] {
		case "CRM", "KEY":
			continue // the test's server and key
		}
		if strings.ContainsAny(m[2], "$`'\" ") {
			t.Fatalf("setup block: %s=%s must be a literal", m[1], m[2])
		}
		vars[m[1]] = m[2]
		env = append(env, m[1]+"="+m[2])
	}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "$"+k, v)
		}
		return s
	}

	for round := 1; round <= 2; round++ {
		for i, chk := range checks {
			block := blocks[i+1]
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, "sh", "-c", block)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			cancel()
			out := stdout.String()
			if err != nil || stderr.Len() > 0 {
				t.Fatalf("round %d, %s: %v\nblock:\n%s\nstdout:\n%s\nstderr:\n%s", round, chk.what, err, block, out, stderr.String())
			}
			if strings.Contains(out, "application/problem+json") || strings.Contains(out, `"title":`) && strings.Contains(out, `"status":4`) {
				t.Fatalf("round %d, %s: answered a problem:\n%s", round, chk.what, out)
			}
			if chk.jsonOut && !json.Valid(bytes.TrimSpace(stdout.Bytes())) {
				t.Errorf("round %d, %s: output is not one JSON document:\n%s", round, chk.what, out)
			}
			for _, w := range chk.want {
				if w = expand(w); !strings.Contains(out, w) {
					t.Errorf("round %d, %s: output lacks %s\nblock:\n%s\noutput:\n%s", round, chk.what, w, block, tail(out, 3000))
				}
			}
		}
	}
}
