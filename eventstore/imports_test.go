package eventstore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces DESIGN §2: eventstore never imports the CRM
// packages; within the module it may only use its own embedded server.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const module = "github.com/crm-es/crm/"
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", module+"eventstore").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, module) {
			continue
		}
		rest := strings.TrimPrefix(dep, module)
		if rest == "eventstore" || rest == "eventstore.test" || rest == "eventstore_test" ||
			rest == "eventstore/server" || strings.HasPrefix(rest, "eventstore/server/") {
			continue
		}
		t.Errorf("eventstore depends on %s; it may only import the standard library, the KurrentDB client, grpc, uuid and eventstore/server", dep)
	}
}
