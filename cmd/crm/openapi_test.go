package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/internal/redistest"
	"github.com/crm-es/crm/writeapi"
)

// crmServer is "crm serve" run in-process by serve(), with debug logs
// captured (the router logs its routes at debug level).
type crmServer struct {
	t    *testing.T
	addr string
	key  string
	log  *syncBuffer
}

// startCRM runs serve() the way "crm serve" does, on a free port with a
// temporary data directory, the embedded event store, a real redis-server
// (internal/redistest) as the read store and one admin API key, and waits
// until /readyz answers 200.
func startCRM(t *testing.T, key string) *crmServer {
	t.Helper()
	s := &crmServer{t: t, addr: freeAddr(t), key: key, log: &syncBuffer{}}
	cfg := serveConfig{dataDir: t.TempDir(), httpAddr: s.addr, apiKeys: key + " tour-admin admin",
		redisURL: redistest.Start(t).URL(), logLevel: slog.LevelDebug, shutdownTimeout: 15 * time.Second}
	logger := slog.New(slog.NewJSONHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, func() {}, cfg, logger, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30 s")
		}
		if t.Failed() {
			t.Logf("crm serve log (tail):\n%s", tail(s.log.String(), 8000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 60 s (last: %v)", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// routes returns the routes the router registered ("METHOD /path"), from
// its debug log line.
func (s *crmServer) routes() []string {
	s.t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s.log.String()))
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var line struct {
			Msg    string   `json:"msg"`
			Routes []string `json:"routes"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "http routes" {
			return line.Routes
		}
	}
	s.t.Fatal(`no "http routes" line in the serve log`)
	return nil
}

// ginParam matches a Gin path parameter (":id", "*rest").
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// openAPIPath turns a Gin route path into an OpenAPI path template.
func openAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// openAPIDoc is the part of an OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Security   []map[string][]string                  `json:"security"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Action      string                     `json:"x-crm-action"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Parameters  []json.RawMessage          `json:"parameters"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Security    *[]map[string][]string     `json:"security"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesRoutes: the routes the router of crm serve registers
// under /v1 are exactly the document's paths × methods, both ways; the ops
// endpoints are documented; the document is OpenAPI 3 with bearer security,
// every operation has a success and a problem+json error answer, every
// $ref resolves, path parameters are declared, and the command operations
// name the role-matrix action and success status writeapi uses.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	srv := startCRM(t, "crm_openapi_test_key_0123456789abcdefghij")

	// Served as embedded.
	resp, err := http.Get("http://" + srv.addr + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(served, openAPIDocument) {
		t.Fatalf("/openapi.json: %d %q, %d bytes (embedded %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(served), len(openAPIDocument))
	}

	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON for OpenAPI: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Info.Title == "" || doc.Info.Version == "" || len(doc.Paths) == 0 {
		t.Fatalf("required OpenAPI fields: openapi %q, info.title %q, info.version %q, %d paths", doc.OpenAPI, doc.Info.Title, doc.Info.Version, len(doc.Paths))
	}
	if b := doc.Components.SecuritySchemes["bearer"]; b.Type != "http" || b.Scheme != "bearer" {
		t.Errorf("components.securitySchemes.bearer = %+v, want http bearer", b)
	}
	if !slices.ContainsFunc(doc.Security, func(m map[string][]string) bool { _, ok := m["bearer"]; return ok }) {
		t.Errorf("top-level security %v does not require bearer", doc.Security)
	}

	registered := map[string]bool{}
	for _, r := range srv.routes() {
		method, path, _ := strings.Cut(r, " ")
		registered[method+" "+openAPIPath(path)] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !slices.Contains(httpMethods, method) {
				t.Errorf("%s: %q is not an HTTP method", path, method)
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	v1 := func(set map[string]bool) []string {
		var out []string
		for k := range set {
			if _, path, _ := strings.Cut(k, " "); strings.HasPrefix(path, "/v1/") {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	if diff := cmp.Diff(v1(registered), v1(documented)); diff != "" {
		t.Errorf("/v1 routes (-registered +documented):\n%s", diff)
	}
	if n := len(v1(registered)); n < 50 {
		t.Errorf("only %d /v1 routes registered: the command, query and audit APIs should all be mounted", n)
	}
	for _, op := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /projections"} {
		if !registered[op] || !documented[op] {
			t.Errorf("%s: registered %v, documented %v", op, registered[op], documented[op])
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("%s is documented but not registered", k)
		}
	}

	// Every operation: a 2xx answer and, under /v1, problem+json errors.
	responseRefs := doc.Components.Responses
	for path, ops := range doc.Paths {
		params := ginParam.FindAllString(strings.NewReplacer("{", ":", "}", "").Replace(path), -1)
		for method, op := range ops {
			name := strings.ToUpper(method) + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: operationId %q, summary %q", name, op.OperationID, op.Summary)
			}
			var ok2xx, problem401 bool
			for code, raw := range op.Responses {
				if n, err := strconv.Atoi(code); err == nil && n >= 200 && n < 300 {
					ok2xx = true
				}
				if code == "401" {
					problem401 = strings.Contains(string(resolveResponse(t, raw, responseRefs)), `"application/problem+json"`)
				}
			}
			if !ok2xx {
				t.Errorf("%s: no 2xx response", name)
			}
			if strings.HasPrefix(path, "/v1/") {
				if !problem401 {
					t.Errorf("%s: no problem+json 401 response", name)
				}
				if op.Security != nil {
					t.Errorf("%s: overrides the bearer security", name)
				}
			}
			for _, p := range params {
				if !declaresPathParam(t, op.Parameters, p[1:], &doc) {
					t.Errorf("%s: path parameter %s not declared", name, p[1:])
				}
			}
		}
	}

	// Commands: the action of the role matrix and the success status.
	for _, r := range writeapi.Routes() {
		path := "/v1" + openAPIPath(r.Path)
		op, ok := doc.Paths[path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("command %s %s not documented", r.Method, path)
			continue
		}
		if op.Action != string(r.Action) {
			t.Errorf("%s %s: x-crm-action %q, writeapi says %q", r.Method, path, op.Action, r.Action)
		}
		if _, ok := op.Responses[strconv.Itoa(r.Status)]; !ok {
			t.Errorf("%s %s: no %d response (writeapi answers %d)", r.Method, path, r.Status, r.Status)
		}
		if r.Method != http.MethodDelete && len(op.RequestBody) == 0 {
			t.Errorf("%s %s: no request body", r.Method, path)
		}
	}

	// Every documented body property is one the command accepts (bodies
	// are decoded strictly: an unknown field is a 400 naming it), checked by
	// sending each command all its documented properties as null.
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if len(op.RequestBody) == 0 || !strings.HasPrefix(path, "/v1/") {
				continue
			}
			props := bodyProperties(t, op.RequestBody)
			if len(props) == 0 {
				t.Errorf("%s %s: request body without properties", method, path)
				continue
			}
			body := map[string]any{}
			for _, p := range props {
				body[p] = nil
			}
			name := strings.ToUpper(method) + " " + path
			if problem := srv.sendJSON(strings.ToUpper(method), ginParam.ReplaceAllString(strings.NewReplacer("{", ":", "}", "").Replace(path), "00000000-0000-4000-8000-000000000001"), body); strings.Contains(problem, "unknown field") {
				t.Errorf("%s: a documented property is refused: %s", name, problem)
			}
			body["undocumentedProbe"] = nil
			if problem := srv.sendJSON(strings.ToUpper(method), ginParam.ReplaceAllString(strings.NewReplacer("{", ":", "}", "").Replace(path), "00000000-0000-4000-8000-000000000001"), body); !strings.Contains(problem, "undocumentedProbe") {
				t.Errorf("%s: an unknown property is not refused by name: %s", name, problem)
			}
		}
	}

	// The query answers have the documented shapes: a customer with an
	// order, an opportunity and a service request, read back through every
	// query that shows them.
	srv.checkAnswers(doc)

	// Every $ref points into the document.
	var whole any
	if err := json.Unmarshal(openAPIDocument, &whole); err != nil {
		t.Fatal(err)
	}
	walkRefs(whole, func(ref string) {
		if _, ok := lookupPointer(whole, ref); !ok {
			t.Errorf("$ref %q does not resolve", ref)
		}
	})
}

// sendJSON sends body as JSON with the server's key and returns the answer.
func (s *crmServer) sendJSON(method, path string, body any) string {
	s.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(method, "http://"+s.addr+path, bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, out)
}

// bodyProperties lists the properties of a request body's JSON schema
// (followed through its $ref).
func bodyProperties(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var whole any
	if err := json.Unmarshal(openAPIDocument, &whole); err != nil {
		t.Fatal(err)
	}
	var rb struct {
		Content map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"content"`
	}
	if err := json.Unmarshal(raw, &rb); err != nil {
		t.Fatal(err)
	}
	schema := rb.Content["application/json"].Schema
	if ref, ok := schema["$ref"].(string); ok {
		v, ok := lookupPointer(whole, ref)
		if !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		schema, _ = v.(map[string]any)
	}
	props, _ := schema["properties"].(map[string]any)
	var out []string
	for p := range props {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// resolveResponse follows a response's $ref into components.responses.
func resolveResponse(t *testing.T, raw json.RawMessage, refs map[string]json.RawMessage) json.RawMessage {
	t.Helper()
	var r struct {
		Ref string `json:"$ref"`
	}
	if json.Unmarshal(raw, &r) == nil && r.Ref != "" {
		return refs[strings.TrimPrefix(r.Ref, "#/components/responses/")]
	}
	return raw
}

// declaresPathParam: a parameter (inline or by $ref) is the path
// parameter name.
func declaresPathParam(t *testing.T, params []json.RawMessage, name string, doc *openAPIDoc) bool {
	t.Helper()
	var whole map[string]any
	if err := json.Unmarshal(openAPIDocument, &whole); err != nil {
		t.Fatal(err)
	}
	for _, raw := range params {
		var p map[string]any
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if ref, ok := p["$ref"].(string); ok {
			v, ok := lookupPointer(whole, ref)
			if !ok {
				continue
			}
			p, _ = v.(map[string]any)
		}
		if p["in"] == "path" && p["name"] == name && p["required"] == true {
			return true
		}
	}
	return false
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				f(s)
			}
			walkRefs(x, f)
		}
	case []any:
		for _, x := range v {
			walkRefs(x, f)
		}
	}
}

// lookupPointer resolves a local JSON pointer ("#/components/schemas/X").
func lookupPointer(doc any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	cur := doc
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/customers":                                   "/v1/customers",
		"/v1/customers/:id/contacts/:contactId":           "/v1/customers/{id}/contacts/{contactId}",
		"/v1/opportunities/:id/plan-items/:itemId/result": "/v1/opportunities/{id}/plan-items/{itemId}/result",
		"/files/*path":                                    "/files/{path}",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
	_ = fmt.Sprint
}

// checkAnswers records a customer, an order, an opportunity and a service
// request, then validates the answers of the queries that show them
// against the documented 200 schemas.
func (s *crmServer) checkAnswers(doc openAPIDoc) {
	s.t.Helper()
	const cust = "3c0ffee0-0000-4000-8000-00000000c001"
	var pos string
	for _, cmd := range []struct{ path, body string }{
		{"/v1/customers", `{"id":"` + cust + `","name":"Schema Check Ltd","region":"Wales"}`},
		{"/v1/customers/" + cust + "/contacts", `{"name":"Ada Jones","email":"ada@example.com"}`},
		{"/v1/orders", `{"id":"3c0ffee0-0000-4000-8000-00000000c002","customerId":"` + cust + `","currency":"GBP","lines":[{"sku":"A1","quantity":"2","unitPrice":"3.50"}]}`},
		{"/v1/opportunities", `{"id":"3c0ffee0-0000-4000-8000-00000000c003","title":"Spring range","customerId":"` + cust + `","expectedValue":"900.00","currency":"GBP"}`},
		{"/v1/service-requests", `{"id":"3c0ffee0-0000-4000-8000-00000000c004","customerId":"` + cust + `","type":"consultation","title":"Sizes","request":"Which sizes?"}`},
	} {
		var reply map[string]any
		answer := s.sendJSON(http.MethodPost, cmd.path, json.RawMessage(cmd.body))
		code, body, _ := strings.Cut(answer, " ")
		if code != "201" || json.Unmarshal([]byte(body), &reply) != nil {
			s.t.Fatalf("POST %s: %s", cmd.path, answer)
		}
		pos, _ = reply["position"].(string)
	}
	var whole any
	if err := json.Unmarshal(openAPIDocument, &whole); err != nil {
		s.t.Fatal(err)
	}
	for _, q := range []struct{ path, doc string }{
		{"/v1/customers?q=schema", "/v1/customers"},
		{"/v1/customers/" + cust, "/v1/customers/{id}"},
		{"/v1/customers/" + cust + "/orders", "/v1/customers/{id}/orders"},
		{"/v1/customers/" + cust + "/timeline", "/v1/customers/{id}/timeline"},
		{"/v1/opportunities", "/v1/opportunities"},
		{"/v1/opportunities/3c0ffee0-0000-4000-8000-00000000c003", "/v1/opportunities/{id}"},
		{"/v1/service-requests", "/v1/service-requests"},
		{"/v1/service-requests/3c0ffee0-0000-4000-8000-00000000c004", "/v1/service-requests/{id}"},
		{"/v1/churn/risks", "/v1/churn/risks"},
		{"/v1/dashboards/pipeline", "/v1/dashboards/pipeline"},
		{"/v1/dashboards/overview", "/v1/dashboards/overview"},
		{"/v1/reports/service", "/v1/reports/service"},
		{"/v1/reports/churn", "/v1/reports/churn"},
		{"/v1/reports/composition", "/v1/reports/composition"},
		{"/v1/reports/composition?by=region", "/v1/reports/composition"},
		{"/v1/reports/contribution?currency=GBP", "/v1/reports/contribution"},
		{"/v1/projections", "/v1/projections"},
		{"/v1/audit/customers/" + cust + "/events", "/v1/audit/customers/{id}/events"},
		{"/v1/audit/customers/" + cust + "/state?asOf=" + time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "/v1/audit/customers/{id}/state"},
		{"/v1/audit/customers/" + cust + "/verify", "/v1/audit/customers/{id}/verify"},
		{"/v1/audit/streams/customer-" + cust + "/verify", "/v1/audit/streams/{stream}/verify"},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+q.path, nil)
		if err != nil {
			s.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.key)
		req.Header.Set("X-Min-Position", pos)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			s.t.Errorf("GET %s: %d %s", q.path, resp.StatusCode, body)
			continue
		}
		var answer any
		if err := json.Unmarshal(body, &answer); err != nil {
			s.t.Errorf("GET %s: %v", q.path, err)
			continue
		}
		var ok map[string]any
		raw := doc.Paths[q.doc]["get"].Responses["200"]
		if err := json.Unmarshal(raw, &ok); err != nil {
			s.t.Fatal(err)
		}
		schema, _ := lookupPointer(ok, "#/content/application~1json/schema")
		if problems := validateJSON(answer, schema, whole, "$"); len(problems) > 0 {
			s.t.Errorf("GET %s does not match the documented schema:\n%s\nanswer: %s", q.path, strings.Join(problems, "\n"), tail(string(body), 2000))
		}
	}
}

// validateJSON checks v against an OpenAPI schema (the subset the document
// uses: $ref, type, properties, items, additionalProperties, enum) and
// returns what does not match. null is accepted anywhere (absent
// optional values).
func validateJSON(v any, schema any, whole any, at string) []string {
	sm, _ := schema.(map[string]any)
	if ref, ok := sm["$ref"].(string); ok {
		target, ok := lookupPointer(whole, ref)
		if !ok {
			return []string{at + ": unresolved " + ref}
		}
		return validateJSON(v, target, whole, at)
	}
	if v == nil || len(sm) == 0 {
		return nil
	}
	var out []string
	switch typ, _ := sm["type"].(string); typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an object", at, v)}
		}
		props, _ := sm["properties"].(map[string]any)
		addl, hasAddl := sm["additionalProperties"]
		for k, x := range m {
			if ps, ok := props[k]; ok {
				out = append(out, validateJSON(x, ps, whole, at+"."+k)...)
			} else if as, ok := addl.(map[string]any); ok {
				out = append(out, validateJSON(x, as, whole, at+"."+k)...)
			} else if !hasAddl || addl == false {
				out = append(out, at+"."+k+": not documented")
			}
		}
	case "array":
		xs, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an array", at, v)}
		}
		for i, x := range xs {
			out = append(out, validateJSON(x, sm["items"], whole, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		if _, ok := v.(string); !ok {
			out = append(out, fmt.Sprintf("%s: %T, want a string", at, v))
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			out = append(out, fmt.Sprintf("%s: %v, want an integer", at, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			out = append(out, fmt.Sprintf("%s: %T, want a number", at, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			out = append(out, fmt.Sprintf("%s: %T, want a boolean", at, v))
		}
	}
	if enum, ok := sm["enum"].([]any); ok && !slices.Contains(enum, v) {
		out = append(out, fmt.Sprintf("%s: %v, not one of %v", at, v, enum))
	}
	return out
}
