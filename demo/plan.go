package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crm-es/crm/commands"
	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/importer"
)

// The users of the demo: the actors of its commands (user ids as an API key
// file would name them).
const (
	Manager = "demo-manager-eva"
	// ChurnRule is the actor of the churn warnings the 6-month rule raises.
	ChurnRule = "demo-churn-rule"
)

// Reps are the sales reps who own the customers; Agents the service agents.
var (
	Reps   = []string{"demo-rep-alice", "demo-rep-bilal", "demo-rep-chen", "demo-rep-dora"}
	Agents = []string{"demo-agent-femi", "demo-agent-grace", "demo-agent-hugo"}
)

// namespace derives the ids of everything the demo creates.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/crm-es/crm/demo"))

// Step is one command of the demo, run with the clock set to At.
type Step struct {
	At    time.Time
	Actor string
	// Key is the command's idempotency key: a second run replays it.
	Key string
	// Command names the command (the commands.Handlers method).
	Command string
	run     func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error)
}

// Script is the steps of one customer (or one prospect's opportunity), in
// time order. Scripts touch disjoint streams, so they may run concurrently;
// the steps of one script run in order.
type Script struct {
	Name  string // "customer 17850", "prospect opportunity 3"
	Steps []Step
}

// Demo is a planned demo: what to import is the slice; what to run, the
// scripts.
type Demo struct {
	Seed    uint64
	AsOf    time.Time // the end of the story: the last invoice of the slice
	Scripts []Script
}

// Count returns how many steps run each command.
func (d *Demo) Count() map[string]int {
	out := map[string]int{}
	for _, s := range d.Scripts {
		for _, st := range s.Steps {
			out[st.Command]++
		}
	}
	return out
}

// Steps returns the total number of steps.
func (d *Demo) Steps() int {
	n := 0
	for _, s := range d.Scripts {
		n += len(s.Steps)
	}
	return n
}

// churnAfter is the silence after which the classic rule warns (DESIGN §7:
// 6 months).
const churnAfter = 183 * 24 * time.Hour

// day is a calendar day's duration.
const day = 24 * time.Hour

// Generate plans the demo over an import plan (pure and deterministic: the
// same plan and seed give the same steps).
func Generate(plan *importer.Plan, seed uint64) *Demo {
	d := &Demo{Seed: seed}
	for _, c := range plan.Customers {
		for _, a := range c.Actions {
			if a.Invoice.Time.After(d.AsOf) {
				d.AsOf = a.Invoice.Time
			}
		}
	}
	d.AsOf = d.AsOf.UTC()
	for _, c := range plan.Customers {
		g := newGen(d, "c"+c.SourceID)
		g.customer(c)
		d.Scripts = append(d.Scripts, g.script("customer "+c.SourceID))
	}
	// Prospects: about one per 12 customers, at least 3.
	n := max(3, len(plan.Customers)/12)
	for i := range n {
		g := newGen(d, fmt.Sprintf("p%d", i))
		g.prospect(i)
		d.Scripts = append(d.Scripts, g.script(fmt.Sprintf("prospect opportunity %d", i)))
	}
	return d
}

// gen builds one script.
type gen struct {
	d     *Demo
	name  string // the script's key part: "c17850", "p3"
	rng   *rand.Rand
	steps []Step
	seq   int
}

func newGen(d *Demo, name string) *gen {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &gen{d: d, name: name, rng: rand.New(rand.NewPCG(d.Seed, h.Sum64()))}
}

func (g *gen) script(name string) Script {
	slices.SortStableFunc(g.steps, func(a, b Step) int { return a.At.Compare(b.At) })
	return Script{Name: name, Steps: g.steps}
}

// id derives the id of a thing the demo creates.
func (g *gen) id(what string) uuid.UUID {
	return uuid.NewSHA1(namespace, []byte(fmt.Sprintf("s%d:%s:%s", g.d.Seed, g.name, what)))
}

// add queues a step; at is clamped to the end of the story.
func (g *gen) add(at time.Time, actor, command string, run func(context.Context, *commands.Handlers, commands.Options) (commands.Result, error)) {
	if at.After(g.d.AsOf) {
		at = g.d.AsOf
	}
	g.seq++
	g.steps = append(g.steps, Step{At: at.UTC(), Actor: actor, Command: command, run: run,
		Key: fmt.Sprintf("demo:s%d:%s:%d", g.d.Seed, g.name, g.seq)})
}

func (g *gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

// chance is true with probability p.
func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

// between is a time uniformly in [from, from+span).
func (g *gen) between(from time.Time, span time.Duration) time.Time {
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(g.rng.Int64N(int64(span))))
}

// workTime moves t into office hours (09:00–17:30 UTC) of its day.
func (g *gen) workTime(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 9, 0, 0, 0, time.UTC)
	return d.Add(time.Duration(g.rng.IntN(510)) * time.Minute)
}

// order is an order of the slice with what the demo needs of it.
type order struct {
	id      uuid.UUID
	no      string
	at      time.Time
	total   string // decimal
	lines   []importer.Line
	touched bool // cancelled or returned by the import
}

// customer plans everything around one imported customer.
func (g *gen) customer(c *importer.Customer) {
	var orders []*order
	touched := map[string]bool{}
	var returns []importer.Action
	for _, a := range c.Actions {
		switch a.Kind {
		case importer.ActPlace:
			var total importer.Decimal
			for _, l := range a.Invoice.Lines {
				v, _ := l.UnitPrice.Mul(l.Quantity)
				total += v
			}
			orders = append(orders, &order{id: importer.OrderUUID(a.Invoice.No), no: a.Invoice.No, at: a.Invoice.Time.UTC(),
				total: total.String(), lines: a.Invoice.Lines})
		case importer.ActCancel, importer.ActReturn:
			touched[a.Order.No] = true
			if a.Kind == importer.ActReturn {
				returns = append(returns, a)
			}
		}
	}
	for _, o := range orders {
		o.touched = touched[o.no]
	}
	id := c.ID
	reg := c.RegisteredAt.UTC()
	asOf := g.d.AsOf
	last := reg
	if len(orders) > 0 {
		last = orders[len(orders)-1].at
	}
	churned := asOf.Sub(last) > 120*day

	// The manager hands the new customer to a rep, who completes the profile.
	owner := g.pick(Reps)
	g.add(g.workTime(reg.Add(day)), Manager, "AssignCustomerOwner", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
		return h.AssignCustomerOwner(ctx, o, id, owner)
	})
	company := g.companyName()
	industry := g.pick(industries)
	phone := g.phone(c.Region)
	website := "https://www." + slug(company) + ".example"
	address := fmt.Sprintf("%d %s", 1+g.rng.IntN(180), g.pick(streets))
	g.add(g.workTime(reg.Add(2*day)), owner, "ChangeCustomerProfile", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
		return h.ChangeCustomerProfile(ctx, o, id, domain.ProfileChange{Name: &company, Industry: &industry, Phone: &phone, Website: &website, Address: &address})
	})
	credit := []int{2, 3, 3, 4, 4, 4, 5, 5}[g.rng.IntN(8)]
	if len(returns) > 1 {
		credit = min(credit, 3)
	}
	g.add(g.workTime(reg.Add(7*day)), Manager, "RateCustomerCredit", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
		return h.RateCustomerCredit(ctx, o, id, credit)
	})

	// Contacts: one to three people at the customer.
	type contactAt struct {
		id uuid.UUID
		at time.Time
	}
	var contacts []contactAt
	for i := range 1 + g.rng.IntN(3) {
		cid := g.id(fmt.Sprintf("contact:%d", i))
		addAt := g.workTime(reg.Add(time.Duration(2+i*20) * day))
		contacts = append(contacts, contactAt{cid, addAt})
		first, lastName := g.pick(firstNames), g.pick(lastNames)
		ct := domain.Contact{Name: first + " " + lastName, Title: titles[min(i, len(titles)-1)], Phone: phone,
			Email: strings.ToLower(first+"."+lastName) + "@" + slug(company) + ".example"}
		if g.chance(0.5) {
			ct.Mobile = g.phone(c.Region)
		}
		g.add(addAt, owner, "AddContact", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.AddContact(ctx, o, id, cid.String(), ct)
		})
	}

	// The level follows the customer's cumulative orders and spend.
	level := domain.LevelStandard
	var spend float64
	for i, o := range orders {
		spend += parseFloat(o.total)
		want := levelFor(i+1, spend)
		if want > level {
			level = want
			l := level
			g.add(g.workTime(o.at.Add(3*day)), Manager, "ChangeCustomerLevel", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.ChangeCustomerLevel(ctx, o, id, l)
			})
		}
	}

	// Interactions around the orders: a call or a visit before, a
	// follow-up after; a quarterly check-in in long silences.
	logged := 0
	logInteraction := func(at time.Time, channel, summary, detail string) {
		if logged >= 12 || at.After(asOf) || at.Before(reg) {
			return
		}
		logged++
		iid := g.id(fmt.Sprintf("interaction:%d", logged))
		in := domain.Interaction{Channel: channel, OccurredAt: at, Summary: summary, Detail: detail}
		// With one of the contacts known by then (a contact added later
		// cannot be referenced).
		var known []uuid.UUID
		for _, c := range contacts {
			if c.at.Before(at) {
				known = append(known, c.id)
			}
		}
		if len(known) > 0 {
			contact := known[g.rng.IntN(len(known))]
			in.ContactID = &contact
		}
		if channel == domain.ChannelVisit || channel == domain.ChannelMeeting {
			in.Place = g.pick([]string{"customer's office", "our showroom", "trade fair stand", "customer's shop"})
		}
		// Logged the same day or the next morning.
		g.add(at.Add(time.Duration(30+g.rng.IntN(20*60))*time.Minute), owner, "LogInteraction", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.LogInteraction(ctx, o, id, iid.String(), in)
		})
	}
	for i, o := range orders {
		product := productName(o.lines)
		if i > 0 && g.chance(0.3) {
			ch := g.pick([]string{domain.ChannelCall, domain.ChannelCall, domain.ChannelEmail, domain.ChannelVisit, domain.ChannelMeeting})
			logInteraction(g.workTime(o.at.Add(-time.Duration(1+g.rng.IntN(6))*day)), ch,
				"Discussed the next order: "+product, "Asked about stock and lead times before ordering.")
		}
		if g.chance(0.25) {
			logInteraction(g.workTime(o.at.Add(time.Duration(2+g.rng.IntN(8))*day)), g.pick([]string{domain.ChannelEmail, domain.ChannelCall, domain.ChannelChat}),
				"Follow-up on order "+o.no, "Checked that the delivery arrived complete.")
		}
		if i+1 < len(orders) && orders[i+1].at.Sub(o.at) > 100*day {
			logInteraction(g.workTime(o.at.Add(90*day)), domain.ChannelCall, "Quarterly check-in", "No order for three months; presented the new season's range.")
		}
	}
	if churned && len(orders) > 0 {
		logInteraction(g.workTime(last.Add(time.Duration(40+g.rng.IntN(30))*day)), domain.ChannelCall,
			"Tried to reach the buyer", "No answer; left a message about the new catalogue.")
	}

	// Orders the import left untouched are shipped, delivered and paid.
	for _, o := range orders {
		if o.touched {
			continue
		}
		oid, total := o.id, o.total
		shipAt := g.workTime(o.at.Add(time.Duration(1+g.rng.IntN(2)) * day))
		carrier := "Royal Mail"
		if c.Region != "United Kingdom" {
			carrier = g.pick([]string{"DHL", "DPD", "UPS"})
		}
		tracking := fmt.Sprintf("%s%09d", strings.ToUpper(carrier[:2]), g.rng.IntN(1e9))
		if shipAt.After(asOf) {
			continue
		}
		g.add(shipAt, Manager, "ShipOrder", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.ShipOrder(ctx, o, oid, domain.Shipment{Carrier: carrier, TrackingNo: tracking})
		})
		deliveredAt := shipAt.Add(time.Duration(20+g.rng.IntN(100)) * time.Hour)
		if deliveredAt.After(asOf) {
			continue
		}
		g.add(deliveredAt.Add(time.Hour), Manager, "DeliverOrder", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.DeliverOrder(ctx, o, oid, deliveredAt)
		})
		paidAt := g.workTime(o.at.Add(time.Duration(1+g.rng.IntN(30)) * day))
		if amount, err := domain.ParseDecimal(total); err == nil && amount.Sign() > 0 && !paidAt.After(asOf) {
			ref := "INV-" + o.no
			g.add(paidAt, Manager, "RecordPayment", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.RecordPayment(ctx, o, oid, domain.Payment{Amount: amount, Currency: "GBP", Reference: ref})
			})
		}
	}

	g.opportunities(id, owner, orders, churned)
	g.serviceRequests(id, reg, orders, returns, churned)

	// The classic rule: no order for 6 months.
	if len(orders) > 0 && asOf.Sub(last) > churnAfter {
		warnAt := last.Add(churnAfter).Truncate(day).Add(6 * time.Hour)
		days := int(warnAt.Sub(last) / day)
		g.add(warnAt, ChurnRule, "RaiseChurnWarning", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.RaiseChurnWarning(ctx, o, id, domain.ChurnWarning{Why: domain.ChurnWhyRule,
				Signals: []domain.ChurnSignal{{Signal: "recency", Detail: fmt.Sprintf("no order for %d days", days)}}})
		})
		switch r := g.rng.Float64(); {
		case r < 0.35:
			reason := g.pick(lostReasons)
			g.add(g.workTime(warnAt.Add(time.Duration(7+g.rng.IntN(30))*day)), owner, "ConfirmChurn", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.ConfirmChurn(ctx, o, id, reason)
			})
		case r < 0.75:
			measure := g.pick(retentionMeasures)
			g.add(g.workTime(warnAt.Add(time.Duration(2+g.rng.IntN(10))*day)), owner, "DeferChurn", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.DeferChurn(ctx, o, id, measure)
			})
		}
	}
}

// levelFor is the customer level earned by n orders worth spend GBP.
func levelFor(n int, spend float64) int {
	switch {
	case n >= 25 || spend >= 20000:
		return 4 // partner
	case n >= 10 || spend >= 5000:
		return 3 // key account
	case n >= 4 || spend >= 1500:
		return 2 // priority prospect
	}
	return domain.LevelStandard
}

// opportunities plans the sales opportunities of a customer: won ones that
// end in a real order, lost ones before the customer went quiet, open ones
// in the last weeks.
func (g *gen) opportunities(id uuid.UUID, owner string, orders []*order, churned bool) {
	asOf := g.d.AsOf
	n := 0
	if len(orders) >= 2 && g.chance(0.35) {
		// Won: worked for a few weeks, then the order came.
		target := orders[1+g.rng.IntN(len(orders)-1)]
		created := g.workTime(target.at.Add(-time.Duration(15+g.rng.IntN(30)) * day))
		if created.After(orders[0].at) {
			g.opportunity(n, id, owner, created, target.at, "won", target.total)
			n++
		}
	}
	if churned && len(orders) > 0 && g.chance(0.4) {
		last := orders[len(orders)-1].at
		// After its last order the rep pitched the next range, in vain.
		g.opportunity(n, id, owner, g.workTime(last.Add(time.Duration(3+g.rng.IntN(12))*day)),
			g.workTime(last.Add(time.Duration(45+g.rng.IntN(40))*day)), "lost", "")
		n++
	}
	if !churned && g.chance(0.25) {
		created := g.workTime(asOf.Add(-time.Duration(8+g.rng.IntN(50)) * day))
		g.opportunity(n, id, owner, created, time.Time{}, "open", "")
	}
}

// opportunity plans one opportunity of a customer (customerID set) or a
// prospect (uuid.Nil): created, assigned, a plan of two or three items with
// results while it runs, and its outcome ("won" at closeAt with amount,
// "lost" at closeAt, "open").
func (g *gen) opportunity(n int, customerID uuid.UUID, owner string, created, closeAt time.Time, outcome, amount string) {
	oid := g.id(fmt.Sprintf("opportunity:%d", n))
	asOf := g.d.AsOf
	value := fmt.Sprintf("%d.00", (5+g.rng.IntN(60))*100)
	if amount != "" {
		value = amount
	}
	ev, err := domain.ParseDecimal(value)
	if err != nil {
		return
	}
	if ev.Sign() <= 0 {
		ev = domain.DecimalFromInt(500)
	}
	in := domain.CreateOpportunity{Title: g.pick(opportunityTitles), Source: g.pick(sources), SuccessRate: 20 + 10*g.rng.IntN(6),
		ExpectedValue: &ev, Currency: "GBP", Description: "Seasonal range for the shop; price list sent."}
	creator := owner
	if customerID != uuid.Nil {
		in.CustomerID = &customerID
	} else {
		in.Prospect = &domain.Prospect{Name: g.companyName(), ContactName: g.pick(firstNames) + " " + g.pick(lastNames), ContactPhone: g.phone("United Kingdom")}
		creator = Manager
	}
	g.add(created, creator, "CreateOpportunity", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
		return h.CreateOpportunity(ctx, o, commands.CreateOpportunity{ID: oid.String(), CreateOpportunity: in})
	})
	if outcome == "open" && g.chance(0.3) {
		return // still unassigned
	}
	assignAt := created.Add(time.Duration(1+g.rng.IntN(20)) * time.Hour)
	g.add(assignAt, Manager, "AssignOpportunity", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
		return h.AssignOpportunity(ctx, o, oid, owner)
	})
	end := closeAt
	if end.IsZero() {
		end = asOf.Add(30 * day)
	}
	items := 2 + g.rng.IntN(2)
	for i := range items {
		itemID := g.id(fmt.Sprintf("opportunity:%d:item:%d", n, i))
		due := created.Add(end.Sub(created) * time.Duration(i+1) / time.Duration(items+1)).Truncate(day).Add(12 * time.Hour)
		action := planActions[min(i, len(planActions)-1)]
		g.add(assignAt.Add(time.Duration(i+1)*time.Minute), owner, "AddPlanItem", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.AddPlanItem(ctx, o, oid, itemID.String(), due, action)
		})
		if due.After(asOf) || (!closeAt.IsZero() && due.After(closeAt)) {
			continue
		}
		result := planResults[g.rng.IntN(len(planResults))]
		if outcome == "lost" && i == items-1 {
			result = "Buyer did not commit; prices too high for them."
		}
		g.add(g.workTime(due), owner, "RecordPlanItemResult", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.RecordPlanItemResult(ctx, o, oid, itemID, result)
		})
	}
	switch outcome {
	case "won":
		amt := ev
		g.add(closeAt.Add(time.Hour), owner, "WinOpportunity", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.WinOpportunity(ctx, o, oid, domain.WinOpportunity{Amount: &amt, Currency: "GBP"})
		})
	case "lost":
		reason := g.pick(lostOpportunityReasons)
		g.add(closeAt, owner, "LoseOpportunity", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.LoseOpportunity(ctx, o, oid, reason)
		})
	}
}

// prospect plans an opportunity for a new company: won (the company
// becomes a customer), lost or open.
func (g *gen) prospect(i int) {
	asOf := g.d.AsOf
	owner := Reps[i%len(Reps)]
	created := g.workTime(asOf.Add(-time.Duration(20+g.rng.IntN(200)) * day))
	switch r := g.rng.Float64(); {
	case r < 0.35 && asOf.Sub(created) > 40*day:
		g.opportunity(0, uuid.Nil, owner, created, g.workTime(created.Add(time.Duration(20+g.rng.IntN(20))*day)), "won", "")
	case r < 0.65 && asOf.Sub(created) > 40*day:
		g.opportunity(0, uuid.Nil, owner, created, g.workTime(created.Add(time.Duration(25+g.rng.IntN(15))*day)), "lost", "")
	default:
		g.opportunity(0, uuid.Nil, owner, g.workTime(asOf.Add(-time.Duration(5+g.rng.IntN(40))*day)), time.Time{}, "open", "")
	}
}

// serviceRequests plans a customer's service requests: consultations and
// suggestions now and then, complaints after returns and before a customer
// goes quiet; each is assigned, handled and given feedback (a low score
// reopens it), except the most recent ones still being worked on.
func (g *gen) serviceRequests(id uuid.UUID, reg time.Time, orders []*order, returns []importer.Action, churned bool) {
	n := 0
	open := func(at time.Time, typ, title, request string, satisfaction []int) {
		if at.Before(reg) || at.After(g.d.AsOf) {
			return
		}
		sid := g.id(fmt.Sprintf("service:%d", n))
		n++
		agent := g.pick(Agents)
		channel := g.pick([]string{domain.ChannelCall, domain.ChannelEmail, domain.ChannelEmail, domain.ChannelWeb, domain.ChannelChat})
		in := domain.OpenServiceRequest{CustomerID: id, Type: typ, Title: title, Request: request, Channel: channel}
		g.add(at, agent, "OpenServiceRequest", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.OpenServiceRequest(ctx, o, commands.OpenServiceRequest{ID: sid.String(), OpenServiceRequest: in})
		})
		t := at.Add(time.Duration(1+g.rng.IntN(30)) * time.Hour)
		if t.After(g.d.AsOf) {
			return
		}
		g.add(t, Manager, "AssignServiceRequest", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.AssignServiceRequest(ctx, o, sid, agent)
		})
		for round, sat := range satisfaction {
			t = t.Add(time.Duration(4+g.rng.IntN(90)) * time.Hour)
			if t.After(g.d.AsOf) {
				return
			}
			handling := handlings[typ][min(round, len(handlings[typ])-1)]
			g.add(t, agent, "HandleServiceRequest", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.HandleServiceRequest(ctx, o, sid, handling)
			})
			t = t.Add(time.Duration(20+g.rng.IntN(120)) * time.Hour)
			if t.After(g.d.AsOf) {
				return
			}
			fb := domain.Feedback{Result: feedbackText(sat), Satisfaction: sat}
			g.add(t, agent, "RecordServiceFeedback", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.RecordServiceFeedback(ctx, o, sid, fb)
			})
		}
	}
	happy := func() []int { return []int{3 + g.rng.IntN(3)} }
	for _, p := range []float64{0.45, 0.15} { // consultations: the most common request
		if len(orders) == 0 || !g.chance(p) {
			break
		}
		o := orders[g.rng.IntN(len(orders))]
		open(g.workTime(o.at.Add(time.Duration(2+g.rng.IntN(20))*day)), domain.ServiceConsultation,
			"Question about "+strings.ToLower(productName(o.lines)), "Which sizes and colours can be reordered, and how fast?", happy())
	}
	if len(orders) > 1 && g.chance(0.12) {
		o := orders[g.rng.IntN(len(orders))]
		open(g.workTime(o.at.Add(time.Duration(5+g.rng.IntN(20))*day)), domain.ServiceSuggestion,
			"Suggestion: mixed cartons", "Could small shops order mixed cartons instead of full cases?", happy())
	}
	complained := 0
	for _, r := range returns {
		if complained == 2 || !g.chance(0.3) {
			continue
		}
		complained++
		open(g.workTime(r.Invoice.Time.Add(-time.Duration(1+g.rng.IntN(3))*day)), domain.ServiceComplaint,
			"Goods to return on order "+r.Order.No, "Part of the delivery arrived damaged or was not what was ordered.", []int{2 + g.rng.IntN(4)})
	}
	if len(orders) == 0 {
		return
	}
	last := orders[len(orders)-1]
	switch {
	case churned && g.chance(0.5):
		// The complaint before the silence: badly received, reopened once.
		sat := []int{1 + g.rng.IntN(2), 2 + g.rng.IntN(2)}
		open(g.workTime(last.at.Add(time.Duration(g.rng.IntN(25)-15)*day)), domain.ServiceComplaint,
			"Late and incomplete delivery of order "+last.no, "Order arrived a week late with items missing; the buyer is unhappy.", sat)
		rated := g.workTime(last.at.Add(20 * day))
		if !rated.After(g.d.AsOf) {
			g.add(rated, Manager, "RateCustomerSatisfaction", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
				return h.RateCustomerSatisfaction(ctx, o, id, 2)
			})
		}
	case !churned && g.chance(0.1):
		open(g.workTime(g.d.AsOf.Add(-time.Duration(2+g.rng.IntN(60))*day)), domain.ServiceComplaint,
			"Invoice does not match order "+last.no, "The invoice lists a carton that was not delivered.", happy())
	}
	if !churned && g.chance(0.5) {
		sat := 3 + g.rng.IntN(3)
		g.add(g.workTime(last.at.Add(10*day)), Manager, "RateCustomerSatisfaction", func(ctx context.Context, h *commands.Handlers, o commands.Options) (commands.Result, error) {
			return h.RateCustomerSatisfaction(ctx, o, id, sat)
		})
	}
}

func feedbackText(sat int) string {
	switch {
	case sat <= 1:
		return "Customer is very dissatisfied with the answer."
	case sat == 2:
		return "Customer is not satisfied; wants a better solution."
	case sat == 3:
		return "Customer accepts the solution."
	}
	return "Customer is happy with how it was handled."
}

// productName is a readable name for an order's first line.
func productName(lines []importer.Line) string {
	if len(lines) == 0 || strings.TrimSpace(lines[0].Description) == "" {
		return "the range"
	}
	d := strings.ToLower(strings.TrimSpace(lines[0].Description))
	return strings.ToUpper(d[:1]) + d[1:]
}

func (g *gen) companyName() string {
	return g.pick(companyFirst) + " " + g.pick(companySecond) + " " + g.pick(companySuffix)
}

func (g *gen) phone(region string) string {
	if region == "United Kingdom" {
		return fmt.Sprintf("+44 20 %04d %04d", g.rng.IntN(10000), g.rng.IntN(10000))
	}
	return fmt.Sprintf("+%d %d %06d", 30+g.rng.IntN(20), 10+g.rng.IntN(90), g.rng.IntN(1000000))
}

// slug is a lower-case name for a domain.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseFloat reads a decimal total for the level thresholds (a total the
// importer wrote always parses).
func parseFloat(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

var (
	industries    = []string{"gift shop", "homeware retail", "garden centre", "stationery", "department store", "online shop", "wholesale", "café and gifts"}
	streets       = []string{"High Street", "Station Road", "Church Lane", "Market Square", "Mill Road", "Victoria Street", "Park Avenue", "Queen Street"}
	companyFirst  = []string{"Hartley", "Bramble", "Willow", "Copper", "Lantern", "Meadow", "Harbour", "Juniper", "Oak", "Thistle", "Amber", "Saffron"}
	companySecond = []string{"Gifts", "Home", "Living", "Crafts", "Interiors", "Trading", "Design", "Emporium"}
	companySuffix = []string{"Ltd", "Ltd", "& Co", "GmbH", "SARL", "BV", "Ltd"}
	firstNames    = []string{"Olivia", "James", "Amelia", "Noah", "Sophie", "Lucas", "Maya", "Leon", "Clara", "Mateo", "Ines", "Tom", "Hannah", "Ravi", "Chloe", "Jonas"}
	lastNames     = []string{"Smith", "Jones", "Taylor", "Brown", "Müller", "Dubois", "Jansen", "Rossi", "Patel", "Novak", "Walsh", "Evans", "Fischer", "Lopez"}
	titles        = []string{"Owner", "Purchasing manager", "Store manager"}
	sources       = []string{"trade fair", "referral", "website", "existing customer", "catalogue request", "cold call"}

	opportunityTitles = []string{"Christmas range for the shop", "Spring garden collection", "Exclusive lantern line", "Wedding season bundle", "Back-to-school stationery", "Kitchen textiles refresh"}
	planActions       = []string{"Send the catalogue and price list", "Call the buyer about volumes", "Visit with samples"}
	planResults       = []string{"Done; the buyer liked the samples.", "Done; asked for a volume discount.", "Done; decision expected next month."}

	lostOpportunityReasons = []string{"Chose a cheaper supplier.", "Budget frozen for the season.", "No longer stocks this kind of product."}
	lostReasons            = []string{"Moved to a competitor.", "Shop closed.", "Stopped stocking gifts."}
	retentionMeasures      = []string{"Offered 10 % off the next order.", "Sent the new catalogue with free samples.", "Invited to the spring trade fair."}

	handlings = map[string][]string{
		domain.ServiceConsultation: {"Explained the options and sent the size chart."},
		domain.ServiceSuggestion:   {"Passed to purchasing; mixed cartons planned for next season."},
		domain.ServiceComplaint:    {"Apologised; replacement items sent by express.", "Refunded the missing items and added a goodwill credit."},
	}
)
