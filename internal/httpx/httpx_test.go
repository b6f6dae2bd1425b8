package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crm-es/crm/domain"
	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
)

func TestStatusOf(t *testing.T) {
	for kind, want := range map[domain.Kind]int{
		domain.KindInvalid: 400, domain.KindNotFound: 404, domain.KindConflict: 409,
		domain.KindForbidden: 403, domain.KindUnavailable: 503, domain.KindInternal: 500, domain.Kind(99): 500,
	} {
		if got := StatusOf(kind); got != want {
			t.Errorf("StatusOf(%v) = %d, want %d", kind, got, want)
		}
	}
}

func TestProblemOf(t *testing.T) {
	got := ProblemOf(domain.Invalid(domain.FieldError{Field: "prospect.name", Message: "required"}))
	want := Problem{Type: TypeValidation, Title: "Bad Request", Status: 400, Detail: "validation failed",
		Errors: []domain.FieldError{{Field: "prospect.name", Message: "required"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("validation problem (-want +got):\n%s", d)
	}
	secret := errors.New("dial tcp 10.0.0.1: secret detail")
	for _, err := range []error{secret, domain.Wrap(domain.KindInternal, secret, "boom")} {
		p := ProblemOf(err)
		if p.Status != 500 || p.Detail != "internal error" {
			t.Errorf("internal: %+v", p)
		}
	}
	if p := ProblemOf(domain.Errorf(domain.KindNotFound, "customer x not found")); p.Status != 404 || p.Detail != "customer x not found" {
		t.Errorf("not found: %+v", p)
	}
}

func TestWriteProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, Problem{Status: 413})
	if ct := rec.Header().Get("Content-Type"); ct != ContentTypeProblem {
		t.Errorf("Content-Type %q", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p["status"] != 413.0 || p["title"] != "Request Entity Too Large" || p["type"] != "about:blank" {
		t.Errorf("problem %v", p)
	}
}

const goodKeys = `# comment
crm_aaaaaaaaaaaaaaaaaaaaa alice admin

	crm_bbbbbbbbbbbbbbbbbbbbb	bob sales,service
crm_ccccccccccccccccccccc carol auditor # trailing words are not allowed
`

func TestParseKeys(t *testing.T) {
	_, err := ParseKeys(strings.NewReader(goodKeys), "keys")
	if err == nil || !strings.Contains(err.Error(), "keys:5:") {
		t.Fatalf("want an error on line 5, got %v", err)
	}
	keys, err := ParseKeys(strings.NewReader(strings.Replace(goodKeys, " # trailing words are not allowed", "", 1)), "keys")
	if err != nil {
		t.Fatal(err)
	}
	if keys.Len() != 3 {
		t.Fatalf("%d keys", keys.Len())
	}
	p, ok := keys.Lookup("crm_bbbbbbbbbbbbbbbbbbbbb")
	if !ok || p.UserID != "bob" || !p.Has(RoleSales) || !p.Has(RoleService) || p.Has(RoleAdmin) {
		t.Errorf("bob: %+v %v", p, ok)
	}
	for _, k := range []string{"", "crm_bbbbbbbbbbbbbbbbbbbbX", "crm_bbbbbbbbbbbbbbbbbbbb"} {
		if _, ok := keys.Lookup(k); ok {
			t.Errorf("Lookup(%q) succeeded", k)
		}
	}

	bad := []struct{ in, want string }{
		{"short alice admin\n", "f:1: key too short"},
		{"crm_aaaaaaaaaaaaaaaaaaaaa alice\n", "f:1: want 3 fields"},
		{"#\ncrm_aaaaaaaaaaaaaaaaaaaaa alice root\n", `f:2: unknown role "root"`},
		{"crm_aaaaaaaaaaaaaaaaaaaaa alice admin\ncrm_aaaaaaaaaaaaaaaaaaaaa bob admin\n", "f:2: duplicate key (first on line 1)"},
		{"# only comments\n", "f: no API keys"},
	}
	for _, b := range bad {
		_, err := ParseKeys(strings.NewReader(b.in), "f")
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseKeys(%q) = %v, want %q", b.in, err, b.want)
		}
		if err != nil && strings.Contains(err.Error(), "crm_aaaa") {
			t.Errorf("error reveals a key: %v", err)
		}
	}
}

func TestEnsureDefaultKeysFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path, key, err := EnsureDefaultKeysFile(dir)
	if err != nil || key == "" {
		t.Fatalf("first start: %q %q %v", path, key, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	keys, err := LoadKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := keys.Lookup(key); !ok || !p.Has(RoleAdmin) {
		t.Errorf("default key: %+v %v", p, ok)
	}
	_, again, err := EnsureDefaultKeysFile(dir)
	if err != nil || again != "" {
		t.Errorf("second start: %q %v (the key is printed only once)", again, err)
	}
}

func TestAuthenticateAndAuthorize(t *testing.T) {
	gin.SetMode(gin.TestMode)
	keys, err := ParseKeys(strings.NewReader("crm_aaaaaaaaaaaaaaaaaaaaa alice admin\ncrm_bbbbbbbbbbbbbbbbbbbbb bob sales\ncrm_ccccccccccccccccccccc carol auditor\n"), "k")
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.POST("/x", Authenticate(keys), Authorize(DefaultMatrix(), CustomerChangeLevel), func(c *gin.Context) {
		p, _ := PrincipalFrom(c.Request.Context())
		c.String(200, p.UserID+" "+ScopeFrom(c).String())
	})
	do := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/x", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		auth   string
		status int
		body   string
	}{
		{"", 401, ""},
		{"Basic abc", 401, ""},
		{"Bearer wrongwrongwrongwrong", 401, ""},
		{"Bearer crm_aaaaaaaaaaaaaaaaaaaaa", 200, "alice any"},
		{"bearer crm_bbbbbbbbbbbbbbbbbbbbb", 200, "bob own"},
		{"Bearer crm_ccccccccccccccccccccc", 403, ""},
	} {
		rec := do(tc.auth)
		if rec.Code != tc.status {
			t.Errorf("%q: status %d, want %d", tc.auth, rec.Code, tc.status)
		}
		if tc.body != "" && rec.Body.String() != tc.body {
			t.Errorf("%q: body %q", tc.auth, rec.Body.String())
		}
		if tc.status >= 400 && rec.Header().Get("Content-Type") != ContentTypeProblem {
			t.Errorf("%q: content type %q", tc.auth, rec.Header().Get("Content-Type"))
		}
		if tc.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%q: no challenge", tc.auth)
		}
	}
}

func TestMatrix(t *testing.T) {
	m := DefaultMatrix()
	for _, a := range AllActions {
		for _, r := range []Role{RoleAdmin, RoleManager} {
			if m.Scope([]Role{r}, a) != ScopeAny {
				t.Errorf("%s cannot %s", r, a)
			}
		}
		for _, r := range []Role{RoleAuditor, RoleAnalyst, RoleExecutive} {
			if m.Scope([]Role{r}, a) != ScopeNone {
				t.Errorf("%s may %s", r, a)
			}
		}
	}
	if m.Scope([]Role{RoleSales}, CustomerAssignOwner) != ScopeNone || m.Scope([]Role{RoleSales}, OrderPlace) != ScopeOwn {
		t.Error("sales scopes")
	}
	if m.Scope([]Role{RoleSales, RoleManager}, OrderPlace) != ScopeAny {
		t.Error("the widest scope wins")
	}
}

// TestREADMERoles keeps the README's "Roles" table equal to DefaultMatrix.
func TestREADMERoles(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultMatrix().MarkdownTable()
	if !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks the role matrix; put this table in its \"Roles\" section:\n\n%s", want)
	}
}
