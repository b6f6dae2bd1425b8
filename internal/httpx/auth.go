package httpx

import (
	"context"
	"strings"

	"github.com/gin-gonic/gin"
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal Authenticate stored in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Authenticate is the API-key middleware: it requires
// "Authorization: Bearer <key>", answers 401 problem+json (with a
// WWW-Authenticate challenge) for a missing or unknown key, and otherwise
// stores the key's Principal in the request context (PrincipalFrom).
func Authenticate(keys *Keys) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			Unauthorized(c, "missing Authorization: Bearer <api key>", false)
			return
		}
		scheme, key, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			Unauthorized(c, "the Authorization header must be \"Bearer <api key>\"", true)
			return
		}
		p, ok := keys.Lookup(strings.TrimSpace(key))
		if !ok {
			Unauthorized(c, "unknown API key", true)
			return
		}
		c.Request = c.Request.WithContext(WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

// Authorize answers 403 unless the principal's roles give it some scope for
// action in m; the scope is then available through ScopeFrom.
func Authorize(m Matrix, action Action) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := PrincipalFrom(c.Request.Context())
		if !ok {
			Unauthorized(c, "not authenticated", false)
			return
		}
		s := m.Scope(p.Roles, action)
		if s == ScopeNone {
			Forbidden(c, "user "+p.UserID+" may not run "+string(action))
			return
		}
		c.Set(scopeKey, s)
		c.Next()
	}
}

const scopeKey = "crm.scope"

// ScopeFrom returns the scope Authorize granted (ScopeNone if it did not run).
func ScopeFrom(c *gin.Context) Scope {
	if v, ok := c.Get(scopeKey); ok {
		if s, ok := v.(Scope); ok {
			return s
		}
	}
	return ScopeNone
}
