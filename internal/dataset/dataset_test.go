package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOnlineRetail(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "retail.csv")
	if err := os.WriteFile(file, []byte("InvoiceNo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := OnlineRetail(file); err != nil || got != file {
		t.Fatalf("OnlineRetail(%q) = %q, %v", file, got, err)
	}
	missing := filepath.Join(dir, "nope.csv")
	if _, err := OnlineRetail(missing); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), OnlineRetailEnv) {
		t.Fatalf("OnlineRetail(missing) error %v: want the path and %s", err, OnlineRetailEnv)
	}
	// The default place: beside the repository; present or not, the path
	// ends in shared/datasets.
	if got, err := OnlineRetail(""); err == nil {
		if !strings.HasSuffix(got, filepath.Join("shared", "datasets", "online-retail.csv.gz")) {
			t.Fatalf("default path %s", got)
		}
	} else if !strings.Contains(err.Error(), filepath.Join("shared", "datasets", "online-retail.csv.gz")) {
		t.Fatalf("default path error %v", err)
	}
}
