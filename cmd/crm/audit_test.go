package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/eventstore"
	"github.com/crm-es/crm/internal/redistest"
)

// TestServeAuditSubprocess: crm serve runs the audit linker and mounts the
// audit API: a registered customer's history is there for the auditor
// (not for sales); the linker catches up and writes its checkpoint into the
// event store; after shutdown crm export reads the same data directory and
// leaves the linker's system events out.
func TestServeAuditSubprocess(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	addr := freeAddr(t)
	keys := "audit-test-admin-0123456789 admin admin;audit-test-auditor-0123456789 auditor auditor;audit-test-sales-0123456789 sales sales"
	p := start(t, cleanEnv("CRM_API_KEYS="+keys), "serve", "--data", data, "--http", addr)
	p.waitStatus("http://"+addr+"/healthz", http.StatusOK)
	p.waitLog("crm serve ready")

	resp, body := post(t, "http://"+addr+"/v1/customers", "audit-test-admin-0123456789", `{"name":"Audit Ltd","level":2}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %v", resp.StatusCode, body)
	}
	id, _ := body["id"].(string)
	p.waitLog("audit linker caught up")

	get := func(path, key string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, b := get("/v1/audit/customers/"+id+"/events", "audit-test-auditor-0123456789")
	var page struct {
		Items []struct {
			Stream, Type, Actor string
		} `json:"items"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &page) != nil || len(page.Items) != 1 ||
		page.Items[0].Type != "CustomerRegistered" || page.Items[0].Actor != "admin" || page.Items[0].Stream != "customer-"+id {
		t.Errorf("audit events: %d %s", status, b)
	}
	if status, b := get("/v1/audit/customers/"+id+"/events", "audit-test-sales-0123456789"); status != http.StatusForbidden {
		t.Errorf("sales reads the audit log: %d %s", status, b)
	}
	if status, b := get("/v1/audit/customers/"+id+"/verify", "audit-test-admin-0123456789"); status != http.StatusOK || !strings.Contains(string(b), `"ok":true`) {
		t.Errorf("verify: %d %s", status, b)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"\ncrm_audit_linker_live 1\n", "\ncrm_audit_linker_links_total 1\n", "\ncrm_audit_linker_unattributed_total 0\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	p.stop()

	var stdout, stderr bytes.Buffer
	env := func(k string) string { return map[string]string{"CRM_DATA_DIR": data}[k] }
	if code := run(context.Background(), []string{"export", "--progress", "none"}, env, &stdout, &stderr); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	var all []string
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var e struct{ Stream, Type string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		all = append(all, e.Type+" "+e.Stream)
	}
	if len(all) == 0 || all[0] != "CustomerRegistered customer-"+id {
		t.Errorf("export: %v", all)
	}
	for _, a := range all {
		if strings.HasPrefix(a, "$") {
			t.Errorf("system event exported: %s", a)
		}
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "crm-customer-history-") {
		t.Errorf("link streams leak into the export")
	}
}

// TestProjectRunsAuditLinker: crm project links the customers' events into
// their link streams (checkpoint in the event store) next to the
// projectors.
func TestProjectRunsAuditLinker(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	seedExportStore(t, data)
	r := redistest.Start(t)
	addr := freeAddr(t)
	p := start(t, cleanEnv("REDIS_URL="+r.URL()), "project", "--data", data, "--http", addr)
	p.waitLog("audit linker caught up")
	p.stop()

	s, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alpha := uuid.NewSHA1(uuid.NameSpaceOID, []byte("Alpha"))
	links, _, err := s.LoadStream(context.Background(), audit.HistoryStream(alpha))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range links {
		got = append(got, l.Type+" "+string(l.Data))
	}
	oid := uuid.NewSHA1(alpha, []byte("order"))
	want := []string{"$> 0@customer-" + alpha.String(), "$> 0@order-" + oid.String(), "$> 1@customer-" + alpha.String()}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("links of Alpha:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cp, err := audit.LoadCheckpoint(context.Background(), s)
	if err != nil || cp.IsZero() {
		t.Errorf("linker checkpoint: %v %v", cp, err)
	}
}
