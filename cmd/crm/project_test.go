package main

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/crm-es/crm/internal/redistest"
)

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestProjectSubprocess runs two "crm project" processes against a real
// Redis and a standalone event store: one holds the leases, the other
// stands by; /readyz, /metrics and "crm projections list|rebuild" work.
func TestProjectSubprocess(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	listen := freeAddr(t)
	es := start(t, cleanEnv(), "eventstore", "serve", "--data", t.TempDir(), "--listen", listen)
	es.waitLog("event store listening")
	env := cleanEnv("EVENTSTORE_URL=esdb://"+listen+"?tls=false", "REDIS_URL="+r.URL())

	addrA, addrB := freeAddr(t), freeAddr(t)
	a := start(t, env, "project", "--data", t.TempDir(), "--http", addrA)
	a.waitStatus("http://"+addrA+"/readyz", http.StatusOK)
	b := start(t, env, "project", "--data", t.TempDir(), "--http", addrB)
	b.waitStatus("http://"+addrB+"/readyz", http.StatusOK)

	deadline := time.Now().Add(20 * time.Second)
	for {
		ma, mb := getBody(t, "http://"+addrA+"/metrics"), getBody(t, "http://"+addrB+"/metrics")
		if strings.Contains(ma, `crm_projection_state{projection="customers",state="live"} 1`) &&
			strings.Contains(ma, `crm_projection_lease_held{projection="customers"} 1`) &&
			strings.Contains(mb, `crm_projection_lease_held{projection="customers"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed A live holding the lease and B standing by:\nA:\n%s\nB:\n%s", ma, mb)
		}
		time.Sleep(100 * time.Millisecond)
	}

	list := exec.Command(crmBinary(t), "projections", "list")
	list.Env = env
	out, err := list.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "customers") || !strings.Contains(string(out), "live") {
		t.Fatalf("crm projections list: %v\n%s", err, out)
	}
	rb := exec.Command(crmBinary(t), "projections", "rebuild", "customers")
	rb.Env = env
	if out, err := rb.CombinedOutput(); err != nil || !strings.Contains(string(out), "requested") {
		t.Fatalf("crm projections rebuild: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		gen := r.Client.Get(context.Background(), "crm:customers:active").Val()
		if strings.Contains(gen, "-r") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("customers not rebuilt; active generation %q", gen)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The holder is killed (no lease release): the standby takes over
	// within 10 s.
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		mb := getBody(t, "http://"+addrB+"/metrics")
		if allLeasesHeld(mb) && strings.Contains(mb, `crm_projection_state{projection="customers",state="live"} 1`) {
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("B did not take over within 10 s of the kill:\n%s", mb)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("takeover %s after the kill", time.Since(killed).Round(time.Millisecond))
	b.stop()
}

// TestProjectNeedsRedis: crm project without REDIS_URL is a usage error.
func TestProjectNeedsRedis(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(crmBinary(t), "project", "--data", t.TempDir(), "--http", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "REDIS_URL") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// TestServeRunsProjectors: with REDIS_URL, crm serve runs the projectors
// in-process: /readyz waits for them and /metrics reports them.
func TestServeRunsProjectors(t *testing.T) {
	t.Parallel()
	r := redistest.Start(t)
	addr := freeAddr(t)
	p := start(t, cleanEnv("REDIS_URL="+r.URL()), "serve", "--data", t.TempDir(), "--http", addr)
	body := p.waitStatus("http://"+addr+"/readyz", http.StatusOK)
	if !strings.Contains(string(body), `"projections"`) {
		t.Fatalf("/readyz does not check the projections: %s", body)
	}
	if m := getBody(t, "http://"+addr+"/metrics"); !strings.Contains(m, `crm_projection_serving{projection="customers"} 1`) {
		t.Fatalf("/metrics:\n%s", m)
	}
	p.stop()
}

// allLeasesHeld: every crm_projection_lease_held sample of a metrics page is 1.
func allLeasesHeld(metrics string) bool {
	n := 0
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "crm_projection_lease_held{") {
			if !strings.HasSuffix(line, " 1") {
				return false
			}
			n++
		}
	}
	return n > 0
}
