package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var apiKeyRE = regexp.MustCompile(`crm_[A-Za-z0-9_-]{43}`)

func post(t *testing.T, url, key, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

// TestServeCommandAPISubprocess: the first start creates DATA/api-keys
// (0600) with one admin key and prints it once (not in a log line); the
// command API under /v1 requires it; /healthz stays open; a restart keeps
// the key and prints nothing.
func TestServeCommandAPISubprocess(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	var key string
	for round := 1; round <= 2; round++ {
		addr := freeAddr(t)
		p := start(t, cleanEnv(), "serve", "--data", data, "--http", addr)
		p.waitStatus("http://"+addr+"/healthz", http.StatusOK)
		p.waitLog("crm serve ready")
		out := p.log.String()
		keys := apiKeyRE.FindAllString(out, -1)
		if round == 1 {
			if len(keys) != 1 {
				t.Fatalf("round 1: want the new key printed exactly once, found %d times:\n%s", len(keys), out)
			}
			key = keys[0]
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "{") && strings.Contains(line, key) {
					t.Errorf("the key appears in a log line: %s", line)
				}
			}
			fi, err := os.Stat(filepath.Join(data, "api-keys"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("api-keys: %v %v", fi, err)
			}
		} else if len(keys) != 0 {
			t.Errorf("round 2 printed a key again:\n%s", out)
		}

		base := "http://" + addr + "/v1/customers"
		if resp, m := post(t, base, "", `{"name":"x"}`); resp.StatusCode != 401 || m["status"] != 401.0 {
			t.Errorf("round %d: no key: %d %v", round, resp.StatusCode, m)
		}
		resp, m := post(t, base, key, `{"name":"ACME"}`)
		if resp.StatusCode != 201 || m["id"] == nil || resp.Header.Get("X-Event-Position") != m["position"] {
			t.Errorf("round %d: register: %d %v %v", round, resp.StatusCode, m, resp.Header)
		}
		p.stop()
	}
}

// TestServeAPIKeysFile: CRM_API_KEYS_FILE names the keys; a missing or
// malformed file stops the start with an error naming the file and line.
func TestServeAPIKeysFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte("# team\nsales-key-0123456789abcdef alice sales\nauditor-key-0123456789abcd carol auditor\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := start(t, cleanEnv("CRM_API_KEYS_FILE="+keysFile), "serve", "--data", filepath.Join(dir, "data"), "--http", addr)
	p.waitStatus("http://"+addr+"/healthz", http.StatusOK)
	p.waitLog("crm serve ready")
	if _, err := os.Stat(filepath.Join(dir, "data", "api-keys")); err == nil {
		t.Error("created the default keys file although CRM_API_KEYS_FILE is set")
	}
	base := "http://" + addr + "/v1/customers"
	if resp, m := post(t, base, "auditor-key-0123456789abcd", `{"name":"x"}`); resp.StatusCode != 403 {
		t.Errorf("auditor: %d %v", resp.StatusCode, m)
	}
	if resp, m := post(t, base, "sales-key-0123456789abcdef", `{"name":"x"}`); resp.StatusCode != 201 {
		t.Errorf("sales: %d %v", resp.StatusCode, m)
	}
	p.stop()

	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("sales-key-0123456789abcdef alice wizard\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{bad: bad + ":1: unknown role", filepath.Join(dir, "missing"): "no such file"} {
		cmd := exec.Command(crmBinary(t), "serve", "--data", filepath.Join(dir, "data2"), "--http", freeAddr(t))
		cmd.Env = cleanEnv("CRM_API_KEYS_FILE=" + file)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("keys file %s: err %v, output lacks %q:\n%s", file, err, want, out)
		}
	}
}

func TestLoadAPIKeysFromEnvironment(t *testing.T) {
	var stderr strings.Builder
	cfg, err := parseServeConfig(nil, envMap(map[string]string{
		"CRM_DATA_DIR": t.TempDir(),
		"CRM_API_KEYS": "env-key-0123456789abcdef alice sales; env-key2-0123456789abcde bob admin,auditor",
	}), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := loadAPIKeys(cfg, discardLogger(), &stderr)
	if err != nil || keys.Len() != 2 {
		t.Fatalf("keys %v, err %v", keys, err)
	}
	if p, ok := keys.Lookup("env-key2-0123456789abcde"); !ok || p.UserID != "bob" || len(p.Roles) != 2 {
		t.Errorf("bob: %+v %v", p, ok)
	}
	if _, err := os.Stat(filepath.Join(cfg.dataDir, "api-keys")); err == nil || stderr.Len() != 0 {
		t.Errorf("created a keys file or printed something with CRM_API_KEYS set: %q", stderr.String())
	}

	cfg.apiKeys = "env-key-0123456789abcdef alice sales;short bob admin"
	if _, err := loadAPIKeys(cfg, discardLogger(), &stderr); err == nil || !strings.Contains(err.Error(), "CRM_API_KEYS:2: key too short") {
		t.Errorf("bad CRM_API_KEYS: %v", err)
	}
	_, err = parseServeConfig(nil, envMap(map[string]string{"CRM_API_KEYS": "x", "CRM_API_KEYS_FILE": "f"}), &stderr)
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both set: %v", err)
	}
}
