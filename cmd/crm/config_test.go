package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseServeConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want serveConfig
	}{
		{
			name: "defaults",
			want: serveConfig{dataDir: "./data", httpAddr: "127.0.0.1:8080", logLevel: slog.LevelInfo, shutdownTimeout: 15 * time.Second},
		},
		{
			name: "environment",
			env: map[string]string{
				"CRM_DATA_DIR":   "/var/lib/crm",
				"CRM_HTTP_ADDR":  "0.0.0.0:9000",
				"CRM_LOG_LEVEL":  "DEBUG",
				"EVENTSTORE_URL": "esdb://admin:changeit@kurrentdb:2113?tls=false",
				"REDIS_URL":      "redis://redis:6379/0",
			},
			want: serveConfig{
				dataDir: "/var/lib/crm", httpAddr: "0.0.0.0:9000", logLevel: slog.LevelDebug,
				eventStoreURL: "esdb://admin:changeit@kurrentdb:2113?tls=false", redisURL: "redis://redis:6379/0",
				shutdownTimeout: 15 * time.Second,
			},
		},
		{
			name: "flags beat environment",
			args: []string{"--data", "d", "--http", ":0", "--log-level", "warn", "--shutdown-timeout", "3s"},
			env:  map[string]string{"CRM_DATA_DIR": "/x", "CRM_HTTP_ADDR": "1.2.3.4:5", "CRM_LOG_LEVEL": "error"},
			want: serveConfig{dataDir: "d", httpAddr: ":0", logLevel: slog.LevelWarn, shutdownTimeout: 3 * time.Second},
		},
		{
			name: "cluster connection string",
			env:  map[string]string{"EVENTSTORE_URL": "esdb://n1:2113,n2:2113,n3:2113?tls=false&nodePreference=leader"},
			want: serveConfig{dataDir: "./data", httpAddr: "127.0.0.1:8080", logLevel: slog.LevelInfo, shutdownTimeout: 15 * time.Second,
				eventStoreURL: "esdb://n1:2113,n2:2113,n3:2113?tls=false&nodePreference=leader"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseServeConfig(tt.args, envMap(tt.env), &stderr)
			if err != nil {
				t.Fatalf("error: %v (stderr %q)", err, stderr.String())
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(serveConfig{})); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigErrors runs the command line in-process: a bad configuration is
// reported clearly on stderr, without echoing secrets, and exits 2 before
// anything is opened.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantStderr []string
	}{
		{"EVENTSTORE_URL wrong scheme", []string{"serve"}, map[string]string{"EVENTSTORE_URL": "http://localhost:2113"},
			[]string{"EVENTSTORE_URL is not a valid KurrentDB connection string", "esdb://"}},
		{"EVENTSTORE_URL bad port", []string{"serve"}, map[string]string{"EVENTSTORE_URL": "esdb://admin:s3cret@kurrentdb:21x3?tls=false"},
			[]string{"EVENTSTORE_URL"}},
		{"EVENTSTORE_URL unparsable", []string{"serve"}, map[string]string{"EVENTSTORE_URL": "esdb://admin:s3cret@[::1"},
			[]string{"EVENTSTORE_URL"}},
		{"EVENTSTORE_URL bad setting", []string{"serve"}, map[string]string{"EVENTSTORE_URL": "esdb://localhost:2113?tls=maybe"},
			[]string{"EVENTSTORE_URL"}},
		{"REDIS_URL", []string{"serve"}, map[string]string{"REDIS_URL": "mysql://u:s3cret@db/crm"},
			[]string{"REDIS_URL is not a valid Redis URL"}},
		{"log level", []string{"serve"}, map[string]string{"CRM_LOG_LEVEL": "loud"},
			[]string{`CRM_LOG_LEVEL) "loud"`}},
		{"http address", []string{"serve", "--http", "8080"}, nil,
			[]string{"--http (CRM_HTTP_ADDR)", "not host:port"}},
		{"empty data dir", []string{"serve", "--data", ""}, nil,
			[]string{"--data (CRM_DATA_DIR) must not be empty"}},
		{"several errors at once", []string{"serve"}, map[string]string{"EVENTSTORE_URL": "nope", "REDIS_URL": "nope"},
			[]string{"crm serve: EVENTSTORE_URL", "crm serve: REDIS_URL"}},
		{"unknown flag", []string{"serve", "--nope"}, nil,
			[]string{"flag provided but not defined: -nope", "Usage: crm serve"}},
		{"positional argument", []string{"serve", "extra"}, nil,
			[]string{"unexpected arguments: extra"}},
		{"unknown command", []string{"frobnicate"}, nil,
			[]string{`unknown command "frobnicate"`, "Usage:"}},
		{"no command", nil, nil,
			[]string{"Usage:"}},
		{"eventstore without serve", []string{"eventstore"}, nil,
			[]string{`expected subcommand "serve"`}},
		{"eventstore listen address", []string{"eventstore", "serve", "--listen", "localhost"}, nil,
			[]string{"--listen"}},
		{"eventstore max append size", []string{"eventstore", "serve", "--max-append-size", "-1"}, nil,
			[]string{"--max-append-size"}},
		{"healthcheck bad address", []string{"healthcheck"}, map[string]string{"CRM_HTTP_ADDR": "nohostport"},
			[]string{"CRM_HTTP_ADDR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, envMap(tt.env), &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "s3cret") {
				t.Errorf("stderr leaks a password:\n%s", stderr.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, envMap(nil), &stdout, &stderr); code != exitUsage {
			t.Errorf("crm %v: exit code %d, want %d", args, code, exitUsage)
		}
		for _, want := range []string{"crm serve", "crm eventstore serve", "crm help"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("crm %v: usage lacks %q:\n%s", args, want, stdout.String())
			}
		}
	}
	// A subcommand's -h is a request, not an error.
	for _, args := range [][]string{{"serve", "-h"}, {"eventstore", "serve", "-h"}, {"healthcheck", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, envMap(nil), &stdout, &stderr); code != exitOK {
			t.Errorf("crm %v: exit code %d, want 0", args, code)
		}
		if !strings.Contains(stderr.String(), "Usage") && !strings.Contains(stderr.String(), "-url") {
			t.Errorf("crm %v printed no usage:\n%s", args, stderr.String())
		}
	}
}

// TestServeFailsOnBusyPort checks that a runtime failure (the HTTP address is
// taken) is reported and exits 1, before the event store is opened.
func TestServeFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--http", ln.Addr().String(), "--data", t.TempDir()}, envMap(nil), &stdout, &stderr)
	if code != exitFailure {
		t.Errorf("exit code = %d, want %d", code, exitFailure)
	}
	if !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("stderr lacks the cause:\n%s", stderr.String())
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"esdb://admin:changeit@kurrentdb:2113?tls=false":     "esdb://REDACTED@kurrentdb:2113?tls=false",
		"esdb://kurrentdb:2113?tls=false":                    "esdb://kurrentdb:2113?tls=false",
		"esdb://u:p@a:2113,b:2113,c:2113?tls=false":          "esdb://REDACTED@a:2113,b:2113,c:2113?tls=false",
		"redis://:p@ss@redis:6379/0":                         "redis://REDACTED@redis:6379/0",
		"redis://redis:6379/0?x=a@b":                         "redis://redis:6379/0?x=a@b",
		"esdb+discover://u:p@cluster.example:2113?tls=false": "esdb+discover://REDACTED@cluster.example:2113?tls=false",
		"": "",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnectionString(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:2113": "esdb://127.0.0.1:2113?tls=false",
		"0.0.0.0:2113":   "esdb://127.0.0.1:2113?tls=false",
		"[::]:2113":      "esdb://127.0.0.1:2113?tls=false",
		"[::1]:2113":     "esdb://[::1]:2113?tls=false",
	} {
		addr, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := connectionString(addr); got != want {
			t.Errorf("connectionString(%s) = %q, want %q", in, got, want)
		}
	}
}
