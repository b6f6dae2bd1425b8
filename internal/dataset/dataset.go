// Package dataset locates the shared data sets that tests and benchmarks
// read: the UCI Online Retail file lives in ../shared/datasets beside the
// repository (not in it), or wherever CRM_BENCH_ONLINE_RETAIL names (read
// by the calling test: only cmd reads the environment in non-test code).
//
// Import rule: the standard library only.
package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// OnlineRetailEnv names the variable that overrides the file's place.
const OnlineRetailEnv = "CRM_BENCH_ONLINE_RETAIL"

// OnlineRetail returns the path of the Online Retail file (csv or csv.gz):
// override when it is not empty, else
// ../shared/datasets/online-retail.csv.gz beside the repository. The error
// says where it looked and how to point elsewhere when there is no file
// there (callers skip).
func OnlineRetail(override string) (string, error) {
	path := override
	if path == "" {
		_, self, _, ok := runtime.Caller(0)
		if !ok {
			return "", fmt.Errorf("the Online Retail file: cannot locate the repository (set %s)", OnlineRetailEnv)
		}
		// self is <repo>/internal/dataset/dataset.go.
		path = filepath.Join(filepath.Dir(self), "..", "..", "..", "shared", "datasets", "online-retail.csv.gz")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the Online Retail file is not at %s (set %s): %w", path, OnlineRetailEnv, err)
	}
	return path, nil
}
