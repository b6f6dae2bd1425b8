package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

var importSlice = filepath.Join("..", "..", "importer", "testdata", "online-retail-slice.csv")

// TestImportCommand runs "crm import online-retail" twice on the committed
// slice of the data set: the first run imports, the second appends nothing.
func TestImportCommand(t *testing.T) {
	dataDir := t.TempDir()
	env := envMap(map[string]string{"CRM_DATA_DIR": dataDir})
	runImport := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"import", "online-retail"}, args...), env, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := runImport("--progress", "log", importSlice)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"rows read              326",
		"guest lines            47",
		"customers              8",
		"orders                 37",
		"55 planned, 55 appended, 0 already imported",
		"events/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, `"msg":"import step finished"`) {
		t.Errorf("no progress log line on stderr (not a terminal):\n%s", errOut)
	}

	// Flags after FILE work too.
	code, out, errOut = runImport(importSlice, "--progress", "none", "--workers", "4")
	if code != exitOK {
		t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "55 planned, 0 appended, 55 already imported") {
		t.Errorf("second run appended something:\n%s", out)
	}
	if strings.Contains(errOut, "import progress") {
		t.Errorf("--progress none still logged progress:\n%s", errOut)
	}

	code, _, errOut = runImport(filepath.Join("..", "..", "importer", "testdata", "online-retail-malformed.csv"))
	if code != exitFailure || !strings.Contains(errOut, "line 5: column Quantity") {
		t.Errorf("malformed file: exit %d, stderr:\n%s", code, errOut)
	}
}

func TestImportUsageErrors(t *testing.T) {
	env := envMap(map[string]string{"CRM_DATA_DIR": t.TempDir()})
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import"}, exitUsage, `expected a source: "online-retail FILE"`},
		{[]string{"import", "other", "x.csv"}, exitUsage, `expected a source`},
		{[]string{"import", "online-retail"}, exitUsage, "missing FILE"},
		{[]string{"import", "online-retail", "--workers", "0", "f.csv"}, exitUsage, "--workers must be between 1 and 1024"},
		{[]string{"import", "online-retail", "--progress", "fancy", "f.csv"}, exitUsage, `--progress "fancy"`},
		{[]string{"import", "online-retail", "f.csv", "g.csv"}, exitUsage, "unexpected arguments: g.csv"},
		{[]string{"import", "online-retail", "-h"}, exitOK, "Usage: crm import online-retail"},
		{[]string{"import", "online-retail", "does-not-exist.csv"}, exitFailure, "no such file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, env, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("crm %v: exit %d (want %d), stderr:\n%s\nwant it to contain %q", tc.args, code, tc.code, stderr.String(), tc.want)
		}
	}
}
