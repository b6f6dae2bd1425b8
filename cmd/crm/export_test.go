package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// seedExportStore writes two customers, each with an order, into the
// embedded store under dir and closes it; it returns the events written
// (as read back), in log order.
func seedExportStore(t *testing.T, dir string) []eventstore.Recorded {
	t.Helper()
	ctx := context.Background()
	s, err := eventstore.Open(ctx, eventstore.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	codec := commands.NewCodec()
	n := 0
	app := func(stream string, rev int64, evs ...domain.Event) {
		t.Helper()
		n++
		var pend []eventstore.Pending
		for _, e := range evs {
			p, err := codec.NewPending(e, eventstore.Metadata{Actor: "u1", CommandID: "export-test-" + string(rune('a'+n))})
			if err != nil {
				t.Fatal(err)
			}
			pend = append(pend, p)
		}
		if _, err := s.Append(ctx, stream, rev, pend); err != nil {
			t.Fatal(err)
		}
	}
	total, _ := domain.ParseDecimal("3.00")
	for i, name := range []string{"Alpha", "Beta"} {
		cid := uuid.NewSHA1(uuid.NameSpaceOID, []byte(name))
		c := domain.NewCustomer()
		if err := c.Register(cid, domain.RegisterCustomer{Profile: domain.Profile{Name: name}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		app(domain.CustomerStream(cid), -1, c.Changes()...)
		oid := uuid.NewSHA1(cid, []byte("order"))
		app(domain.OrderStream(oid), -1, domain.OrderPlaced{OrderID: oid, CustomerID: cid, OrderedAt: time.Now().UTC(), Currency: "GBP", Total: total})
		app(domain.CustomerStream(cid), 0, domain.CustomerLevelChanged{CustomerID: cid, From: 0, To: i + 1})
	}
	var all []eventstore.Recorded
	page, err := s.ReadAll(ctx, eventstore.Checkpoint{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page {
		if !r.IsSystem() {
			all = append(all, r)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return all
}

func parseNDJSON(t *testing.T, b []byte) []audit.Event {
	t.Helper()
	var out []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	all := seedExportStore(t, dir)
	env := func(k string) string { return map[string]string{"CRM_DATA_DIR": dir}[k] }
	want := func(keep func(r eventstore.Recorded) bool) []audit.Event {
		var out []audit.Event
		for _, r := range all {
			if keep(r) {
				out = append(out, audit.FromRecorded(r))
			}
		}
		return out
	}

	t.Run("file with filters and progress", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "log.ndjson")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"export", "--prefix", "order-,customer-", "--type", domain.TypeOrderPlaced,
			"--type", domain.TypeCustomerLevelChanged, "--since", "2000-01-01", "--until", time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"--out", out, "--progress", "log"}, env, &stdout, &stderr)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		exp := want(func(r eventstore.Recorded) bool {
			return r.Type == domain.TypeOrderPlaced || r.Type == domain.TypeCustomerLevelChanged
		})
		if len(exp) != 4 {
			t.Fatalf("scenario: %d events", len(exp))
		}
		if diff := cmp.Diff(exp, parseNDJSON(t, b)); diff != "" {
			t.Errorf("export (-want +got):\n%s", diff)
		}
		if stdout.Len() != 0 {
			t.Errorf("stdout not empty with --out: %q", stdout.String())
		}
		if !strings.Contains(stderr.String(), "exporting events") {
			t.Errorf("no progress on stderr:\n%s", stderr.String())
		}
		if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
			t.Errorf("temporary file left behind: %v", err)
		}
	})
	t.Run("stdout, everything", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"export", "--progress", "none"}, env, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if diff := cmp.Diff(want(func(eventstore.Recorded) bool { return true }), parseNDJSON(t, stdout.Bytes())); diff != "" {
			t.Errorf("export (-want +got):\n%s", diff)
		}
	})
	t.Run("no store in --data", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		empty := t.TempDir()
		code := run(context.Background(), []string{"export", "--data", empty, "--progress", "none"}, env, &stdout, &stderr)
		if code != exitFailure || !strings.Contains(stderr.String(), "no event store in "+filepath.Join(empty, "eventstore")) {
			t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(empty, "eventstore")); !os.IsNotExist(err) {
			t.Errorf("an event store was created in the wrong directory: %v", err)
		}
	})
	t.Run("until before everything", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"export", "--until", "2000-01-01", "--progress", "none"}, env, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("exported events recorded before 2000: %s", stdout.String())
		}
	})
}

func TestExportCommandBadFlags(t *testing.T) {
	env := func(k string) string { return map[string]string{"CRM_DATA_DIR": t.TempDir()}[k] }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad since", []string{"--since", "yesterday"}, `invalid value "yesterday" for flag -since`},
		{"bad until", []string{"--until", "2024-02-30"}, "-until"},
		{"empty range", []string{"--since", "2024-03-02", "--until", "2024-03-01"}, "the time range is empty"},
		{"empty prefix", []string{"--prefix", "a,,b"}, "-prefix"},
		{"bad progress", []string{"--progress", "loud"}, `--progress "loud"`},
		{"unknown flag", []string{"--stream", "x"}, "flag provided but not defined: -stream"},
		{"positional", []string{"customer-"}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"export"}, tt.args...), env, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// TestAuditVerifyCommand: crm audit verify checks an export file offline:
// intact, tampered (the rewritten event is named), not an export, usage.
func TestAuditVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	seedExportStore(t, dir)
	env := func(k string) string { return map[string]string{"CRM_DATA_DIR": dir}[k] }
	file := filepath.Join(t.TempDir(), "log.ndjson")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"export", "--out", file, "--progress", "none"}, env, &stdout, &stderr); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	alpha := "customer-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte("Alpha")).String()
	tampered := filepath.Join(t.TempDir(), "tampered.ndjson")
	if err := os.WriteFile(tampered, bytes.Replace(b, []byte(`"name":"Alpha"`), []byte(`"name":"Alpha Evil"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.ndjson")
	if err := os.WriteFile(garbage, append(b, []byte("{oops\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		args        []string
		code        int
		out, errOut string
	}{
		{"intact", []string{"verify", file}, exitOK, "4 streams, 6 events checked, 0 broken", ""},
		{"intact json", []string{"verify", "--json", file}, exitOK, `"ok": true`, ""},
		{"tampered", []string{"verify", tampered}, exitFailure, "BROKEN  " + alpha + "  at revision 0 (hash)", ""},
		{"not an export", []string{"verify", garbage}, exitFailure, "", "line 7: not an audit event"},
		{"missing file", []string{"verify", filepath.Join(dir, "nope")}, exitFailure, "", "no such file"},
		{"no file", []string{"verify"}, exitUsage, "", "expected exactly one FILE"},
		{"no subcommand", nil, exitUsage, "", `expected subcommand "verify FILE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"audit"}, tt.args...), env, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.errOut) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
		})
	}
}
