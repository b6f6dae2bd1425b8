package httpx

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// Role is a user's role, as written in the API keys file.
type Role string

// The roles of DESIGN §8.
const (
	RoleAdmin     Role = "admin"
	RoleManager   Role = "manager"
	RoleSales     Role = "sales"
	RoleService   Role = "service"
	RoleAuditor   Role = "auditor"
	RoleAnalyst   Role = "analyst"
	RoleExecutive Role = "executive"
)

// AllRoles lists every role, in the order of the README's role matrix.
var AllRoles = []Role{RoleAdmin, RoleManager, RoleSales, RoleService, RoleAuditor, RoleAnalyst, RoleExecutive}

// ParseRole parses a role name (exact, lower case).
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(AllRoles, r) {
		return r, nil
	}
	names := make([]string, len(AllRoles))
	for i, r := range AllRoles {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown role %q (roles: %s)", s, strings.Join(names, ", "))
}

// Action names one command of the API, for the role matrix.
type Action string

// The command actions (DESIGN §8).
const (
	CustomerRegister          Action = "customer.register"
	CustomerChangeProfile     Action = "customer.change-profile"
	CustomerChangeLevel       Action = "customer.change-level"
	CustomerRateCredit        Action = "customer.rate-credit"
	CustomerRateSatisfaction  Action = "customer.rate-satisfaction"
	CustomerAssignOwner       Action = "customer.assign-owner"
	CustomerAddContact        Action = "customer.add-contact"
	CustomerChangeContact     Action = "customer.change-contact"
	CustomerRemoveContact     Action = "customer.remove-contact"
	CustomerLogInteraction    Action = "customer.log-interaction"
	CustomerDeferChurn        Action = "customer.defer-churn"
	CustomerConfirmChurn      Action = "customer.confirm-churn"
	CustomerReactivate        Action = "customer.reactivate"
	OpportunityCreate         Action = "opportunity.create"
	OpportunityChange         Action = "opportunity.change"
	OpportunityAssign         Action = "opportunity.assign"
	OpportunityAddPlanItem    Action = "opportunity.add-plan-item"
	OpportunityChangePlanItem Action = "opportunity.change-plan-item"
	OpportunityRecordResult   Action = "opportunity.record-plan-item-result"
	OpportunityWin            Action = "opportunity.win"
	OpportunityLose           Action = "opportunity.lose"
	ServiceRequestOpen        Action = "service-request.open"
	ServiceRequestAssign      Action = "service-request.assign"
	ServiceRequestHandle      Action = "service-request.handle"
	ServiceRequestFeedback    Action = "service-request.feedback"
	OrderPlace                Action = "order.place"
	OrderShip                 Action = "order.ship"
	OrderDeliver              Action = "order.deliver"
	OrderRecordPayment        Action = "order.record-payment"
	OrderCancel               Action = "order.cancel"
	OrderReturn               Action = "order.return"
)

// Scope is how far a role's permission for an action reaches.
type Scope int

const (
	// ScopeNone: not allowed.
	ScopeNone Scope = iota
	// ScopeOwn: only on customers the user owns (for opportunities, orders
	// and service requests: those of customers the user owns; for an
	// opportunity with a prospect: those the user created or is assigned).
	ScopeOwn
	// ScopeAny: on every customer.
	ScopeAny
)

func (s Scope) String() string {
	switch s {
	case ScopeOwn:
		return "own"
	case ScopeAny:
		return "any"
	}
	return "none"
}

var (
	customerActions = []Action{CustomerRegister, CustomerChangeProfile, CustomerChangeLevel, CustomerRateCredit,
		CustomerRateSatisfaction, CustomerAssignOwner, CustomerAddContact, CustomerChangeContact, CustomerRemoveContact,
		CustomerLogInteraction, CustomerDeferChurn, CustomerConfirmChurn, CustomerReactivate}
	opportunityActions = []Action{OpportunityCreate, OpportunityChange, OpportunityAssign, OpportunityAddPlanItem,
		OpportunityChangePlanItem, OpportunityRecordResult, OpportunityWin, OpportunityLose}
	serviceActions = []Action{ServiceRequestOpen, ServiceRequestAssign, ServiceRequestHandle, ServiceRequestFeedback}
	orderActions   = []Action{OrderPlace, OrderShip, OrderDeliver, OrderRecordPayment, OrderCancel, OrderReturn}
)

// AllActions lists every command action, in the README's order.
var AllActions = slices.Concat(customerActions, opportunityActions, serviceActions, orderActions)

// Matrix is the role matrix: for each role, the scope of each action it may
// run (absent = ScopeNone). README "Roles" documents it; a test keeps the
// two in sync.
type Matrix map[Role]map[Action]Scope

// DefaultMatrix returns the role matrix of the CRM:
//
//   - admin, manager: every command on every customer.
//   - sales: customers (not owner reassignment), opportunities (not
//     assignment), service requests (open only) and orders, on their own
//     customers; a customer they register is theirs.
//   - service: service requests (all steps) on every customer, plus logging
//     interactions and rating satisfaction.
//   - auditor, analyst, executive: no commands (they read).
func DefaultMatrix() Matrix {
	m := Matrix{}
	all := func(r Role, s Scope, actions ...Action) {
		if m[r] == nil {
			m[r] = map[Action]Scope{}
		}
		for _, a := range actions {
			m[r][a] = s
		}
	}
	all(RoleAdmin, ScopeAny, AllActions...)
	all(RoleManager, ScopeAny, AllActions...)
	for _, a := range slices.Concat(customerActions, opportunityActions, orderActions) {
		if a != CustomerAssignOwner && a != OpportunityAssign {
			all(RoleSales, ScopeOwn, a)
		}
	}
	all(RoleSales, ScopeOwn, ServiceRequestOpen)
	all(RoleService, ScopeAny, serviceActions...)
	all(RoleService, ScopeAny, CustomerLogInteraction, CustomerRateSatisfaction)
	return m
}

// Scope returns the widest scope any of roles has for action.
func (m Matrix) Scope(roles []Role, action Action) Scope {
	best := ScopeNone
	for _, r := range roles {
		if s := m[r][action]; s > best {
			best = s
		}
	}
	return best
}

// MarkdownTable renders the matrix as the README's "Roles" table: one row
// per action, one column per role; "any", "own" or "—".
func (m Matrix) MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| command |")
	for _, r := range AllRoles {
		b.WriteString(" " + string(r) + " |")
	}
	b.WriteString("\n|---|")
	for range AllRoles {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, a := range AllActions {
		b.WriteString("| `" + string(a) + "` |")
		for _, r := range AllRoles {
			cell := "—"
			if s := m.Scope([]Role{r}, a); s != ScopeNone {
				cell = s.String()
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Query names a group of query endpoints (the read side of DESIGN §8),
// for the query matrix.
type Query string

// The query groups.
const (
	QueryCustomers          Query = "customers"           // list, customer 360, timeline, orders
	QueryOpportunities      Query = "opportunities"       // list and documents
	QueryServiceRequests    Query = "service-requests"    // list and documents
	QueryChurnRisks         Query = "churn-risks"         // ranked churn risks
	QueryReports            Query = "reports"             // the four reports and the dashboards
	QueryProjections        Query = "projections"         // projection status
	QueryRebuildProjections Query = "projections.rebuild" // POST /v1/projections/{name}/rebuild
)

// AllQueries lists every query group.
var AllQueries = []Query{QueryCustomers, QueryOpportunities, QueryServiceRequests, QueryChurnRisks,
	QueryReports, QueryProjections, QueryRebuildProjections}

// QueryMatrix is the read side of the role matrix: for each role, the
// scope of each query group it may read (absent = ScopeNone). ScopeOwn
// means: customers the user owns (and the opportunities, service requests,
// orders and churn risks of those customers, plus opportunities and
// service requests assigned to or created by the user).
type QueryMatrix map[Role]map[Query]Scope

// DefaultQueryMatrix returns the query side of the role matrix:
//
//   - admin: everything, including rebuilds.
//   - manager: every customer, opportunity, service request, churn risk,
//     report, dashboard and the projection status.
//   - sales: their own customers (and what belongs to them) and churn
//     risks; no reports.
//   - service: every customer and service request (they serve them all).
//   - auditor: everything, read-only (no rebuild).
//   - analyst: reports, dashboards, churn risks, projection status and
//     rebuilds.
//   - executive: reports, dashboards and churn risks.
func DefaultQueryMatrix() QueryMatrix {
	m := QueryMatrix{}
	set := func(r Role, s Scope, qs ...Query) {
		if m[r] == nil {
			m[r] = map[Query]Scope{}
		}
		for _, q := range qs {
			m[r][q] = s
		}
	}
	set(RoleAdmin, ScopeAny, AllQueries...)
	set(RoleManager, ScopeAny, QueryCustomers, QueryOpportunities, QueryServiceRequests, QueryChurnRisks, QueryReports, QueryProjections)
	set(RoleSales, ScopeOwn, QueryCustomers, QueryOpportunities, QueryServiceRequests, QueryChurnRisks)
	set(RoleService, ScopeAny, QueryCustomers, QueryServiceRequests)
	set(RoleAuditor, ScopeAny, QueryCustomers, QueryOpportunities, QueryServiceRequests, QueryChurnRisks, QueryReports, QueryProjections)
	set(RoleAnalyst, ScopeAny, QueryReports, QueryChurnRisks, QueryProjections, QueryRebuildProjections)
	set(RoleExecutive, ScopeAny, QueryReports, QueryChurnRisks)
	return m
}

// Scope returns the widest scope any of roles has for query q.
func (m QueryMatrix) Scope(roles []Role, q Query) Scope {
	best := ScopeNone
	for _, r := range roles {
		if s := m[r][q]; s > best {
			best = s
		}
	}
	return best
}

// AuthorizeQuery answers 403 unless the principal's roles give it some
// scope for query q in m; the scope is then available through ScopeFrom.
func AuthorizeQuery(m QueryMatrix, q Query) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := PrincipalFrom(c.Request.Context())
		if !ok {
			Unauthorized(c, "not authenticated", false)
			return
		}
		s := m.Scope(p.Roles, q)
		if s == ScopeNone {
			Forbidden(c, "user "+p.UserID+" may not read "+string(q))
			return
		}
		c.Set(scopeKey, s)
		c.Next()
	}
}
