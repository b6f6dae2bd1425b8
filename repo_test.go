package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/redis/go-redis/v9"
)

const modulePath = "github.com/crm-es/crm"

// listedPackage is the part of `go list -json` output the tests use.
type listedPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Standard   bool
	DepOnly    bool
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

var (
	listOnce sync.Once
	listed   []listedPackage
	listErr  error
)

// goList runs `go list -e -deps -json ./...` once.
func goList(t *testing.T) []listedPackage {
	t.Helper()
	listOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			listErr = err
			return
		}
		cmd := exec.Command(goTool, "list", "-e", "-deps", "-json", "./...")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			listErr = fmt.Errorf("go list: %v\n%s", err, stderr.String())
			return
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p listedPackage
			if err := dec.Decode(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				listErr = err
				return
			}
			listed = append(listed, p)
		}
	})
	if listErr != nil {
		t.Fatal(listErr)
	}
	return listed
}

// rel returns the module-relative path of an import path ("." for the root
// package) and whether it belongs to this module.
func rel(importPath string) (string, bool) {
	if importPath == modulePath {
		return ".", true
	}
	if r, ok := strings.CutPrefix(importPath, modulePath+"/"); ok {
		return r, true
	}
	return "", false
}

// match reports whether a path matches a pattern: "x" matches x only,
// "x/..." matches x and everything below it, "..." matches everything.
func match(pattern, path string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func matchAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, path) })
}

// importRule constrains the packages matching pkg (module-relative pattern).
type importRule struct {
	pkg    string
	except []string // module-relative patterns excluded from pkg

	// allow lists the module packages that may be imported directly
	// (module-relative patterns); nil means no restriction.
	allow []string
	// deny lists module packages that must not appear among the transitive
	// dependencies, so that no helper package routes around allow.
	deny []string
	// onlyExternal, when non-nil, lists the only non-standard, non-module
	// paths (module path prefixes) allowed among the transitive dependencies.
	onlyExternal []string
	// denyDirect lists standard or third-party import paths (patterns) that
	// must not be imported directly.
	denyDirect []string
	// denyCalls lists package-level functions ("os.Getenv") that the
	// package's non-test source must not call.
	denyCalls []string
	why       string
}

// envAndFlags are the ways to read configuration; only cmd/ may use them.
var envAndFlags = []string{"os.Getenv", "os.LookupEnv", "os.Environ", "os.ExpandEnv"}

// importRules is DESIGN.md §2 as a table.
var importRules = []importRule{
	{
		pkg:          "domain/...",
		allow:        []string{"domain/..."},
		onlyExternal: []string{"github.com/google/uuid"},
		denyDirect: []string{"os", "os/...", "net", "net/...", "log", "log/...", "syscall", "io/ioutil",
			"database/...", "plugin", "math/rand", "math/rand/v2", "crypto/rand", "flag"},
		denyCalls: append([]string{"time.Now", "time.Since", "time.Until", "time.Sleep", "time.After",
			"time.Tick", "time.NewTimer", "time.NewTicker", "time.AfterFunc",
			"uuid.New", "uuid.NewString", "uuid.NewRandom", "uuid.NewV7", "uuid.Must"}, envAndFlags...),
		why: "domain is pure: standard library and google/uuid only, no I/O, no clock, no randomness, no logging",
	},
	{
		pkg:        "commands/...",
		allow:      []string{"commands/...", "domain/...", "eventstore", "internal/..."},
		deny:       []string{"projections/...", "readapi/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "commands imports domain and eventstore only",
	},
	{
		pkg:        "projections/...",
		allow:      []string{"projections/...", "domain/...", "eventstore", "internal/..."},
		deny:       []string{"commands/...", "readapi/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/..."},
		denyCalls:  envAndFlags,
		why:        "projections imports domain and eventstore only",
	},
	{
		pkg:        "readapi/...",
		allow:      []string{"readapi/...", "domain/...", "eventstore", "projections/...", "internal/...", "audit"},
		deny:       []string{"commands/...", "cmd/..."},
		denyDirect: []string{"flag"},
		denyCalls:  envAndFlags,
		why:        "readapi imports domain, eventstore and projections' read-model types only",
	},
	{
		pkg:        "audit/...",
		allow:      []string{"audit/...", "domain/...", "eventstore", "internal/eventcodec"},
		deny:       []string{"commands/...", "projections/...", "readapi/...", "writeapi/...", "importer/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "audit (the log-side audit logic) reads the event log through eventstore and rehydrates with domain; never Redis",
	},
	{
		pkg:        "writeapi/...",
		allow:      []string{"writeapi/...", "commands/...", "domain/...", "internal/..."},
		deny:       []string{"projections/...", "readapi/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "writeapi (the command HTTP API) imports commands, domain and internal helpers only",
	},
	{
		pkg:        "importer/...",
		allow:      []string{"importer/...", "domain/...", "eventstore", "commands/...", "internal/..."},
		deny:       []string{"projections/...", "readapi/...", "writeapi/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "importer (data set imports) imports domain, eventstore, commands and internal helpers only",
	},
	{
		pkg:        "demo/...",
		allow:      []string{"demo/...", "domain/...", "eventstore", "commands/...", "importer/...", "internal/..."},
		deny:       []string{"projections/...", "readapi/...", "writeapi/...", "audit/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "demo (the demo data set) imports domain, eventstore, commands, importer and internal helpers only",
	},
	{
		pkg:        "internal/httpx/...",
		allow:      []string{"internal/httpx/...", "domain/..."},
		deny:       []string{"commands/...", "projections/...", "readapi/...", "writeapi/...", "eventstore/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "internal/httpx (problem+json, auth, roles) builds on domain's error kinds only",
	},
	{
		pkg:        "internal/dataset",
		allow:      []string{},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "internal/dataset (where the shared data sets are) imports no CRM package",
	},
	{
		pkg:        "internal/retailtest",
		allow:      []string{"internal/retailtest", "internal/dataset", "eventstore", "importer"},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "internal/retailtest (the Online Retail import for tests) imports eventstore, importer and internal/dataset only",
	},
	{
		pkg:        "internal/eventcodec",
		allow:      []string{"internal/eventcodec", "domain/...", "eventstore"},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "internal/eventcodec (the domain's event codec table) imports domain and eventstore only",
	},
	{
		pkg:        "internal/memredis",
		allow:      []string{},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/..."},
		denyCalls:  envAndFlags,
		why:        "internal/memredis (the embedded read store) imports no CRM package",
	},
	{
		pkg:        "eventstore/...",
		allow:      []string{"eventstore/...", "internal/..."},
		deny:       []string{"domain/...", "commands/...", "projections/...", "readapi/...", "cmd/..."},
		denyDirect: []string{"flag", "github.com/gin-gonic/gin/...", "github.com/redis/go-redis/..."},
		denyCalls:  envAndFlags,
		why:        "eventstore never imports the CRM packages",
	},
	{
		pkg:       "...",
		except:    []string{"cmd/..."},
		deny:      []string{"cmd/..."},
		denyCalls: envAndFlags,
		why:       "nothing imports cmd; only cmd reads flags and environment variables",
	},
	{
		pkg:        "...",
		except:     []string{"cmd/..."},
		denyDirect: []string{"flag"},
		why:        "only cmd parses flags",
	},
}

// checkImportRules returns one message per violation of rules by pkgs.
// calls maps an import path to the package-level calls its non-test source
// makes (e.g. "os.Getenv"); it may be nil.
func checkImportRules(rules []importRule, pkgs []listedPackage, calls map[string][]string) []string {
	byPath := make(map[string]listedPackage, len(pkgs))
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	var msgs []string
	for _, p := range pkgs {
		r, ok := rel(p.ImportPath)
		if !ok || p.DepOnly {
			continue
		}
		for _, rule := range rules {
			if !match(rule.pkg, r) || matchAny(rule.except, r) {
				continue
			}
			fail := func(format string, args ...any) {
				msgs = append(msgs, fmt.Sprintf("%s: %s (rule %q: %s)", r, fmt.Sprintf(format, args...), rule.pkg, rule.why))
			}
			for _, imp := range p.Imports {
				if ir, ok := rel(imp); ok {
					if rule.allow != nil && !matchAny(rule.allow, ir) {
						fail("imports %s", ir)
					}
				}
				if matchAny(rule.denyDirect, imp) {
					fail("imports %s", imp)
				}
			}
			for _, dep := range p.Deps {
				if dr, ok := rel(dep); ok {
					if matchAny(rule.deny, dr) {
						fail("depends on %s", dr)
					}
					continue
				}
				if rule.onlyExternal != nil && !byPath[dep].Standard && !isStandardPath(dep) &&
					!slices.ContainsFunc(rule.onlyExternal, func(prefix string) bool { return match(prefix+"/...", dep) }) {
					fail("depends on %s", dep)
				}
			}
			for _, call := range calls[p.ImportPath] {
				if slices.Contains(rule.denyCalls, call) {
					fail("calls %s", call)
				}
			}
		}
	}
	sort.Strings(msgs)
	return slices.Compact(msgs)
}

// isStandardPath guesses "standard library" for a path go list did not
// describe: no dot in its first element.
func isStandardPath(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// packageCalls returns the package-level function calls ("os.Getenv") made
// by the non-test Go files of p, resolving import names.
func packageCalls(t *testing.T, p listedPackage) []string {
	t.Helper()
	fset := token.NewFileSet()
	seen := map[string]bool{}
	for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("parse %s: %v", name, err)
			continue
		}
		imports := map[string]string{} // local name → last element of the import path
		for _, is := range f.Imports {
			path := strings.Trim(is.Path.Value, `"`)
			base := path[strings.LastIndex(path, "/")+1:]
			local := base
			if is.Name != nil {
				local = is.Name.Name
			}
			if local != "_" && local != "." {
				imports[local] = base
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok {
				if pkg, ok := imports[id.Name]; ok {
					seen[pkg+"."+sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// TestImportRules enforces DESIGN.md §2 over `go list -deps`. Packages that
// do not exist yet simply match no rule.
func TestImportRules(t *testing.T) {
	pkgs := goList(t)
	calls := map[string][]string{}
	for _, p := range pkgs {
		if _, ok := rel(p.ImportPath); ok && !p.DepOnly && p.Dir != "" {
			calls[p.ImportPath] = packageCalls(t, p)
		}
	}
	for _, msg := range checkImportRules(importRules, pkgs, calls) {
		t.Error(msg)
	}
}

// TestImportRuleChecker shows that the rules bite, on a made-up module.
func TestImportRuleChecker(t *testing.T) {
	m := func(r string) string {
		if r == "." {
			return modulePath
		}
		return modulePath + "/" + r
	}
	pkgs := []listedPackage{
		{ImportPath: m("domain"), Imports: []string{"encoding/json", "github.com/google/uuid", "os"},
			Deps: []string{"encoding/json", "github.com/google/uuid", "os", "github.com/shopspring/decimal"}},
		{ImportPath: m("commands"), Imports: []string{m("domain"), m("eventstore"), m("internal/helper")},
			Deps: []string{m("domain"), m("eventstore"), m("internal/helper"), m("projections")}},
		{ImportPath: m("projections"), Imports: []string{m("domain"), m("eventstore"), "github.com/redis/go-redis/v9"},
			Deps: []string{m("domain"), m("eventstore"), "github.com/redis/go-redis/v9"}},
		{ImportPath: m("readapi"), Imports: []string{m("projections"), m("commands"), "github.com/gin-gonic/gin"},
			Deps: []string{m("projections"), m("commands"), "github.com/gin-gonic/gin"}},
		{ImportPath: m("eventstore"), Imports: []string{m("eventstore/server"), m("domain")},
			Deps: []string{m("eventstore/server"), m("domain")}},
		{ImportPath: m("internal/helper"), Imports: []string{m("projections"), "flag"}, Deps: []string{m("projections"), "flag"}},
		{ImportPath: m("cmd/crm"), Imports: []string{m("readapi"), "flag"}, Deps: []string{m("readapi"), "flag"}},
		{ImportPath: "github.com/google/uuid", DepOnly: true},
		{ImportPath: "github.com/shopspring/decimal", DepOnly: true},
		{ImportPath: "os", Standard: true, DepOnly: true},
	}
	calls := map[string][]string{
		m("domain"):      {"json.Marshal", "time.Now"},
		m("projections"): {"os.Getenv"},
		m("cmd/crm"):     {"os.Getenv"},
	}
	got := checkImportRules(importRules, pkgs, calls)
	want := []string{
		"commands: depends on projections",
		"domain: calls time.Now",
		"domain: depends on github.com/shopspring/decimal",
		"domain: imports os",
		"eventstore: depends on domain",
		"eventstore: imports domain",
		"internal/helper: imports flag",
		"projections: calls os.Getenv",
		"readapi: depends on commands",
		"readapi: imports commands",
	}
	var short []string
	for _, g := range got {
		short = append(short, g[:strings.Index(g, " (rule")])
	}
	short = slices.Compact(short)
	if !slices.Equal(short, want) {
		t.Errorf("violations:\n  %s\nwant:\n  %s", strings.Join(short, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestPackageDocs requires a package doc comment on every package of the
// module: "// Package name ..." for libraries, any doc comment for commands.
func TestPackageDocs(t *testing.T) {
	for _, p := range goList(t) {
		r, ok := rel(p.ImportPath)
		if !ok || p.DepOnly || len(p.GoFiles)+len(p.CgoFiles) == 0 {
			continue
		}
		switch {
		case p.Name == "main":
			if strings.TrimSpace(p.Doc) == "" {
				t.Errorf("%s: command has no doc comment", r)
			}
		case !strings.HasPrefix(p.Doc, "Package "+p.Name+" "):
			t.Errorf("%s: no %q doc comment (got %q)", r, "// Package "+p.Name+" ...", p.Doc)
		}
	}
}

// TestDockerCompose loads docker-compose.yml with the Compose specification's
// own loader (schema validation, interpolation, consistency) and checks the
// services the README promises.
func TestDockerCompose(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"},
		cli.WithWorkingDirectory("."),
		cli.WithName("crm"),
		cli.WithEnv(nil), // do not let the developer's environment change the result
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}

	service := func(name string) types.ServiceConfig {
		t.Helper()
		s, ok := project.Services[name]
		if !ok {
			t.Fatalf("no service %q (have %v)", name, project.ServiceNames())
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", name)
		}
		return s
	}
	env := func(s types.ServiceConfig, key string) string {
		t.Helper()
		v, ok := s.Environment[key]
		if !ok || v == nil {
			t.Errorf("%s: environment lacks %s", s.Name, key)
			return ""
		}
		return *v
	}
	hasVolume := func(s types.ServiceConfig, target string) {
		t.Helper()
		for _, v := range s.Volumes {
			if v.Target == target && v.Type == types.VolumeTypeVolume {
				return
			}
		}
		t.Errorf("%s: no named volume at %s", s.Name, target)
	}

	kdb := service("kurrentdb")
	if !strings.Contains(kdb.Image, "eventstore") && !strings.Contains(kdb.Image, "kurrentdb") {
		t.Errorf("kurrentdb: image %q", kdb.Image)
	}
	prefix := "EVENTSTORE_"
	if _, ok := kdb.Environment["KURRENTDB_CLUSTER_SIZE"]; ok {
		prefix = "KURRENTDB_"
	}
	for k, want := range map[string]string{"CLUSTER_SIZE": "1", "RUN_PROJECTIONS": "None", "INSECURE": "true"} {
		if got := env(kdb, prefix+k); !strings.EqualFold(got, want) {
			t.Errorf("kurrentdb: %s%s = %q, want %q", prefix, k, got, want)
		}
	}
	hasVolume(kdb, "/var/lib/"+strings.ToLower(strings.TrimSuffix(prefix, "_")))

	rds := service("redis")
	if !strings.HasPrefix(rds.Image, "redis:7") {
		t.Errorf("redis: image %q, want redis:7", rds.Image)
	}
	if !strings.Contains(strings.Join(rds.Command, " "), "--appendonly yes") {
		t.Errorf("redis: command %q lacks --appendonly yes", rds.Command)
	}
	hasVolume(rds, "/data")

	for name, command := range map[string]string{"crm-api": "serve", "crm-projector": "project"} {
		s := service(name)
		if got := strings.Join(s.Command, " "); got != command {
			t.Errorf("%s: command %q, want %q", name, got, command)
		}
		if s.Build == nil && s.Image == "" {
			t.Errorf("%s: neither build nor image", name)
		}
		conf, err := esdb.ParseConnectionString(env(s, "EVENTSTORE_URL"))
		if err != nil {
			t.Errorf("%s: EVENTSTORE_URL: %v", name, err)
		} else if conf.Address != "kurrentdb:2113" || !conf.DisableTLS {
			t.Errorf("%s: EVENTSTORE_URL points at %s (tls disabled: %v), want kurrentdb:2113 with tls=false", name, conf.Address, conf.DisableTLS)
		}
		ro, err := redis.ParseURL(env(s, "REDIS_URL"))
		if err != nil {
			t.Errorf("%s: REDIS_URL: %v", name, err)
		} else if ro.Addr != "redis:6379" {
			t.Errorf("%s: REDIS_URL points at %s, want redis:6379", name, ro.Addr)
		}
		for _, dep := range []string{"kurrentdb", "redis"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: depends_on %s should wait for service_healthy (got %+v)", name, dep, d)
			}
		}
		hasVolume(s, env(s, "CRM_DATA_DIR"))
	}
}
