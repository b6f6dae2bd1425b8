package domain

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func oppCreatedForCustomer() OpportunityCreated {
	return OpportunityCreated{OpportunityID: oppID, CustomerID: ptr(custID), Title: "Framework deal", Source: "trade fair",
		SuccessRate: 40, ExpectedValue: ptr(dec("12000.00")), Currency: "EUR", CreatedBy: "mgr-1", CreatedAt: t0}
}

func oppCreatedForProspect() OpportunityCreated {
	return OpportunityCreated{OpportunityID: oppID, Prospect: &Prospect{Name: "Newco", ContactName: "Nina", ContactPhone: "+49 1"},
		Title: "First order", SuccessRate: 20, CreatedBy: "mgr-1", CreatedAt: t0}
}

func oppAssigned(prev, to string, cust *uuid.UUID) OpportunityAssigned {
	return OpportunityAssigned{OpportunityID: oppID, CustomerID: cust, PreviousAssigneeID: prev, AssigneeID: to, AssignedAt: t0}
}

type opps = scenario[*Opportunity]

func TestOpportunityCreate(t *testing.T) {
	run(t, NewOpportunity, []opps{
		{name: "for a customer", when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: " Framework deal ", Source: "trade fair", CustomerID: ptr(custID), SuccessRate: 40,
				ExpectedValue: ptr(dec("12000.00")), Currency: "EUR", CreatedBy: "mgr-1"}, t0)
		}, then: []Event{oppCreatedForCustomer()}},
		{name: "for a prospect", when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: "First order", Prospect: &Prospect{Name: " Newco", ContactName: "Nina", ContactPhone: "+49 1"},
				SuccessRate: 20, CreatedBy: "mgr-1"}, t0)
		}, then: []Event{oppCreatedForProspect()}},
		{name: "neither customer nor prospect, and other bad fields", when: func(o *Opportunity) error {
			return o.Create(uuid.Nil, CreateOpportunity{SuccessRate: 101, ExpectedValue: ptr(dec("-1")), Currency: "eur"}, t0)
		}, kind: KindInvalid, fields: []string{"id", "customerId", "title", "successRate", "expectedValue", "currency"}},
		{name: "both customer and prospect", when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: "x", CustomerID: ptr(custID), Prospect: &Prospect{Name: "y"}}, t0)
		}, kind: KindInvalid, fields: []string{"prospect"}},
		{name: "prospect without a name", when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: "x", Prospect: &Prospect{ContactName: "y"}}, t0)
		}, kind: KindInvalid, fields: []string{"prospect.name"}},
		{name: "expected value needs a currency", when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: "x", CustomerID: ptr(custID), ExpectedValue: ptr(dec("5"))}, t0)
		}, kind: KindInvalid, fields: []string{"currency"}},
		{name: "nil customer id", when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: "x", CustomerID: ptr(uuid.Nil)}, t0)
		}, kind: KindInvalid, fields: []string{"customerId"}},
		{name: "twice", given: []Event{oppCreatedForCustomer()}, when: func(o *Opportunity) error {
			return o.Create(oppID, CreateOpportunity{Title: "x", CustomerID: ptr(custID)}, t0)
		}, kind: KindConflict},
	})
}

func TestOpportunityCommandsNeedAnOpportunity(t *testing.T) {
	cmds := map[string]func(o *Opportunity) error{
		"Change":               func(o *Opportunity) error { return o.Change(OpportunityChange{Title: ptr("x")}, t0) },
		"Assign":               func(o *Opportunity) error { return o.Assign("rep", t0) },
		"AddPlanItem":          func(o *Opportunity) error { return o.AddPlanItem(itemID, t1, "call", t0) },
		"ChangePlanItem":       func(o *Opportunity) error { return o.ChangePlanItem(itemID, PlanItemChange{}, t0) },
		"RecordPlanItemResult": func(o *Opportunity) error { return o.RecordPlanItemResult(itemID, "ok", t0) },
		"Win":                  func(o *Opportunity) error { _, err := o.Win(WinOpportunity{}, t0); return err },
		"Lose":                 func(o *Opportunity) error { return o.Lose("price", t0) },
	}
	var cases []opps
	for name, f := range cmds {
		cases = append(cases, opps{name: name, when: f, kind: KindNotFound})
	}
	run(t, NewOpportunity, cases)
}

func TestOpportunityChangeAndAssign(t *testing.T) {
	created := []Event{oppCreatedForCustomer()}
	assigned := []Event{oppCreatedForCustomer(), oppAssigned("", "rep-1", ptr(custID))}
	won := plus(assigned, OpportunityWon{OpportunityID: oppID, CustomerID: custID, AssigneeID: "rep-1", WonAt: t0})
	lost := plus(assigned, OpportunityLost{OpportunityID: oppID, CustomerID: ptr(custID), Reason: "price", PreviousStatus: OpportunityStatusAssigned, LostAt: t0})
	prospect := []Event{oppCreatedForProspect()}
	details := OpportunityDetails{Title: "Framework deal", Source: "trade fair", SuccessRate: 40, ExpectedValue: ptr(dec("12000.00")), Currency: "EUR"}
	with := func(f func(*OpportunityDetails)) OpportunityDetails { d := details; f(&d); return d }
	run(t, NewOpportunity, []opps{
		{name: "change", given: created, when: func(o *Opportunity) error {
			return o.Change(OpportunityChange{SuccessRate: ptr(60), ExpectedValue: ptr(dec("15000")), Title: ptr("Framework deal")}, t1)
		}, then: []Event{OpportunityChanged{OpportunityID: oppID, CustomerID: ptr(custID),
			Changes: []FieldChange{{Field: "successRate", From: "40", To: "60"}, {Field: "expectedValue", From: "12000.00", To: "15000"}},
			Details: with(func(d *OpportunityDetails) { d.SuccessRate = 60; d.ExpectedValue = ptr(dec("15000")) })}}},
		{name: "change while assigned, clear expected value", given: assigned, when: func(o *Opportunity) error {
			return o.Change(OpportunityChange{ClearExpectedValue: true, Description: ptr("big")}, t1)
		}, then: []Event{OpportunityChanged{OpportunityID: oppID, CustomerID: ptr(custID),
			Changes: []FieldChange{{Field: "description", To: "big"}, {Field: "expectedValue", From: "12000.00"}},
			Details: with(func(d *OpportunityDetails) { d.ExpectedValue = nil; d.Description = "big" })}}},
		{name: "change the prospect", given: prospect, when: func(o *Opportunity) error {
			return o.Change(OpportunityChange{ProspectContact: ptr("Nils")}, t1)
		}, then: []Event{OpportunityChanged{OpportunityID: oppID, Changes: []FieldChange{{Field: "prospect.contactName", From: "Nina", To: "Nils"}},
			Details: OpportunityDetails{Title: "First order", SuccessRate: 20, Prospect: &Prospect{Name: "Newco", ContactName: "Nils", ContactPhone: "+49 1"}}}}},
		{name: "change prospect of a customer opportunity", given: created, when: func(o *Opportunity) error {
			return o.Change(OpportunityChange{ProspectName: ptr("x")}, t1)
		}, kind: KindInvalid, fields: []string{"prospect"}},
		{name: "change no-op: same values (12000 equals 12000.00)", given: created, when: func(o *Opportunity) error {
			return o.Change(OpportunityChange{ExpectedValue: ptr(dec("12000")), SuccessRate: ptr(40), Currency: ptr("EUR")}, t1)
		}, noop: true},
		{name: "change invalid", given: created, when: func(o *Opportunity) error {
			return o.Change(OpportunityChange{Title: ptr(""), SuccessRate: ptr(-1)}, t1)
		}, kind: KindInvalid, fields: []string{"title", "successRate"}},
		{name: "change won", given: won, when: func(o *Opportunity) error { return o.Change(OpportunityChange{Title: ptr("x")}, t1) }, kind: KindConflict},
		{name: "change lost", given: lost, when: func(o *Opportunity) error { return o.Change(OpportunityChange{Title: ptr("x")}, t1) }, kind: KindConflict},

		{name: "assign: unassigned → assigned", given: created, when: func(o *Opportunity) error { return o.Assign("rep-1", t0) },
			then: []Event{oppAssigned("", "rep-1", ptr(custID))}},
		{name: "reassign", given: assigned, when: func(o *Opportunity) error { return o.Assign("rep-2", t0) },
			then: []Event{oppAssigned("rep-1", "rep-2", ptr(custID))}},
		{name: "assign same: no-op", given: assigned, when: func(o *Opportunity) error { return o.Assign("rep-1", t1) }, noop: true},
		{name: "assign needs an assignee", given: created, when: func(o *Opportunity) error { return o.Assign("", t1) }, kind: KindInvalid, fields: []string{"assigneeId"}},
		{name: "assign won", given: won, when: func(o *Opportunity) error { return o.Assign("rep-2", t1) }, kind: KindConflict},
		{name: "assign lost", given: lost, when: func(o *Opportunity) error { return o.Assign("rep-2", t1) }, kind: KindConflict},
	})
}

func TestOpportunityPlan(t *testing.T) {
	created := []Event{oppCreatedForCustomer()}
	assigned := []Event{oppCreatedForCustomer(), oppAssigned("", "rep-1", ptr(custID))}
	planned := plus(assigned, PlanItemAdded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, DueDate: t1, Action: "call"})
	withResult := plus(planned, PlanItemResultRecorded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, Result: "interested", RecordedAt: t1})
	won := plus(planned, OpportunityWon{OpportunityID: oppID, CustomerID: custID, AssigneeID: "rep-1", WonAt: t1})
	run(t, NewOpportunity, []opps{
		{name: "add", given: assigned, when: func(o *Opportunity) error { return o.AddPlanItem(itemID, t1.In(fixedZone), " call ", t0) },
			then: []Event{PlanItemAdded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, DueDate: t1, Action: "call"}}},
		{name: "add second", given: planned, when: func(o *Opportunity) error { return o.AddPlanItem(item2ID, t2, "visit", t0) },
			then: []Event{PlanItemAdded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: item2ID, DueDate: t2, Action: "visit"}}},
		{name: "add same item again: no-op", given: planned, when: func(o *Opportunity) error { return o.AddPlanItem(itemID, t1, "call", t0) }, noop: true},
		{name: "add same id, other action", given: planned, when: func(o *Opportunity) error { return o.AddPlanItem(itemID, t1, "visit", t0) }, kind: KindConflict},
		{name: "add invalid", given: assigned, when: func(o *Opportunity) error { return o.AddPlanItem(uuid.Nil, time.Time{}, "", t0) },
			kind: KindInvalid, fields: []string{"itemId", "dueDate", "action"}},
		{name: "add before assignment", given: created, when: func(o *Opportunity) error { return o.AddPlanItem(itemID, t1, "call", t0) }, kind: KindConflict},
		{name: "add after winning", given: won, when: func(o *Opportunity) error { return o.AddPlanItem(item2ID, t1, "call", t0) }, kind: KindConflict},
		{name: "change", given: planned, when: func(o *Opportunity) error {
			return o.ChangePlanItem(itemID, PlanItemChange{DueDate: ptr(t2), Action: ptr("call")}, t0)
		}, then: []Event{PlanItemChanged{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID,
			Changes: []FieldChange{{Field: "dueDate", From: timeText(t1), To: timeText(t2)}}, DueDate: t2, Action: "call"}}},
		{name: "change no-op", given: planned, when: func(o *Opportunity) error {
			return o.ChangePlanItem(itemID, PlanItemChange{DueDate: ptr(t1.In(fixedZone)), Action: ptr("call ")}, t0)
		}, noop: true},
		{name: "change invalid", given: planned, when: func(o *Opportunity) error {
			return o.ChangePlanItem(itemID, PlanItemChange{DueDate: ptr(time.Time{}), Action: ptr("")}, t0)
		}, kind: KindInvalid, fields: []string{"dueDate", "action"}},
		{name: "change unknown item", given: planned, when: func(o *Opportunity) error {
			return o.ChangePlanItem(item2ID, PlanItemChange{Action: ptr("x")}, t0)
		}, kind: KindNotFound},
		{name: "change after winning", given: won, when: func(o *Opportunity) error {
			return o.ChangePlanItem(itemID, PlanItemChange{Action: ptr("x")}, t0)
		}, kind: KindConflict},
		{name: "result", given: planned, when: func(o *Opportunity) error { return o.RecordPlanItemResult(itemID, "interested", t1) },
			then: []Event{PlanItemResultRecorded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, Result: "interested", RecordedAt: t1}}},
		{name: "result changed", given: withResult, when: func(o *Opportunity) error { return o.RecordPlanItemResult(itemID, "ordered", t2) },
			then: []Event{PlanItemResultRecorded{OpportunityID: oppID, CustomerID: ptr(custID), ItemID: itemID, PreviousResult: "interested", Result: "ordered", RecordedAt: t2}}},
		{name: "same result: no-op", given: withResult, when: func(o *Opportunity) error { return o.RecordPlanItemResult(itemID, "interested", t2) }, noop: true},
		{name: "result required", given: planned, when: func(o *Opportunity) error { return o.RecordPlanItemResult(itemID, " ", t1) },
			kind: KindInvalid, fields: []string{"result"}},
		{name: "result unknown item", given: planned, when: func(o *Opportunity) error { return o.RecordPlanItemResult(item2ID, "x", t1) }, kind: KindNotFound},
		{name: "result after winning", given: won, when: func(o *Opportunity) error { return o.RecordPlanItemResult(itemID, "x", t1) }, kind: KindConflict},
	})
}

func TestOpportunityWinAndLose(t *testing.T) {
	created := []Event{oppCreatedForCustomer()}
	assigned := []Event{oppCreatedForCustomer(), oppAssigned("", "rep-1", ptr(custID))}
	won := plus(assigned, OpportunityWon{OpportunityID: oppID, CustomerID: custID, AssigneeID: "rep-1", WonAt: t0})
	lost := plus(assigned, OpportunityLost{OpportunityID: oppID, CustomerID: ptr(custID), Reason: "price", PreviousStatus: OpportunityStatusAssigned, LostAt: t0})
	win := func(p WinOpportunity) func(o *Opportunity) error {
		return func(o *Opportunity) error {
			c, err := o.Win(p, t1)
			if c != nil {
				t.Errorf("Win for an existing customer returned a new customer")
			}
			return err
		}
	}
	run(t, NewOpportunity, []opps{
		{name: "win for an existing customer", given: assigned, when: win(WinOpportunity{Amount: ptr(dec("11500.50"))}),
			then: []Event{OpportunityWon{OpportunityID: oppID, CustomerID: custID, Amount: ptr(dec("11500.50")), Currency: "EUR", AssigneeID: "rep-1", WonAt: t1}}},
		{name: "win without amount", given: assigned, when: win(WinOpportunity{}),
			then: []Event{OpportunityWon{OpportunityID: oppID, CustomerID: custID, AssigneeID: "rep-1", WonAt: t1}}},
		{name: "win amount in another currency", given: assigned, when: win(WinOpportunity{Amount: ptr(dec("9")), Currency: "GBP"}),
			then: []Event{OpportunityWon{OpportunityID: oppID, CustomerID: custID, Amount: ptr(dec("9")), Currency: "GBP", AssigneeID: "rep-1", WonAt: t1}}},
		{name: "win invalid amount", given: assigned, when: win(WinOpportunity{Amount: ptr(dec("-9")), Currency: "pounds"}),
			kind: KindInvalid, fields: []string{"amount", "currency"}},
		{name: "win unassigned", given: created, when: win(WinOpportunity{}), kind: KindConflict},
		{name: "win a lost opportunity", given: lost, when: win(WinOpportunity{}), kind: KindConflict},
		{name: "win twice", given: won, when: win(WinOpportunity{}), kind: KindConflict},

		{name: "lose unassigned", given: created, when: func(o *Opportunity) error { return o.Lose("no budget", t1) },
			then: []Event{OpportunityLost{OpportunityID: oppID, CustomerID: ptr(custID), Reason: "no budget", PreviousStatus: OpportunityStatusUnassigned, LostAt: t1}}},
		{name: "lose assigned", given: assigned, when: func(o *Opportunity) error { return o.Lose("price", t1) },
			then: []Event{OpportunityLost{OpportunityID: oppID, CustomerID: ptr(custID), Reason: "price", PreviousStatus: OpportunityStatusAssigned, LostAt: t1}}},
		{name: "lose needs a reason", given: assigned, when: func(o *Opportunity) error { return o.Lose("", t1) }, kind: KindInvalid, fields: []string{"reason"}},
		{name: "lose won", given: won, when: func(o *Opportunity) error { return o.Lose("x", t1) }, kind: KindConflict},
		{name: "lose lost", given: lost, when: func(o *Opportunity) error { return o.Lose("x", t1) }, kind: KindConflict},
	})
}

func TestOpportunityWinProspectRegistersCustomer(t *testing.T) {
	o := NewOpportunity()
	for _, e := range []Event{oppCreatedForProspect(), oppAssigned("", "rep-1", nil)} {
		o.Apply(e)
	}
	if o.CustomerID() != uuid.Nil || o.Prospect() == nil || o.Prospect().Name != "Newco" {
		t.Fatalf("prospect opportunity state: customer %v prospect %+v", o.CustomerID(), o.Prospect())
	}
	c, err := o.Win(WinOpportunity{Amount: ptr(dec("500")), Currency: "EUR"}, t1)
	if err != nil {
		t.Fatal(err)
	}
	newID := CustomerIDForOpportunity(oppID)
	if diff := cmp.Diff([]Event{OpportunityWon{OpportunityID: oppID, CustomerID: newID, NewCustomer: true, Amount: ptr(dec("500")), Currency: "EUR",
		AssigneeID: "rep-1", WonAt: t1}}, o.Changes()); diff != "" {
		t.Errorf("opportunity events (-want +got):\n%s", diff)
	}
	if c == nil {
		t.Fatal("no new customer")
	}
	want := []Event{
		CustomerRegistered{CustomerID: newID, Profile: Profile{Name: "Newco", Phone: "+49 1"}, Level: 1, OwnerID: "rep-1", OpportunityID: ptr(oppID), RegisteredAt: t1},
		ContactAdded{CustomerID: newID, ContactID: ContactIDForOpportunity(oppID), Contact: Contact{Name: "Nina", Phone: "+49 1"}},
	}
	if diff := cmp.Diff(want, c.Changes()); diff != "" {
		t.Errorf("customer events (-want +got):\n%s", diff)
	}
	if c.ID() != newID || c.OwnerID() != "rep-1" || c.Status() != CustomerStatusActive || o.CustomerID() != newID || o.Status() != OpportunityStatusWon {
		t.Errorf("state after win: customer %v owner %q, opportunity customer %v status %v", c.ID(), c.OwnerID(), o.CustomerID(), o.Status())
	}

	// The same decision on a fresh copy yields the same customer id: a
	// retry can never create a second customer.
	o2 := NewOpportunity()
	for _, e := range []Event{oppCreatedForProspect(), oppAssigned("", "rep-1", nil)} {
		o2.Apply(e)
	}
	c2, err := o2.Win(WinOpportunity{}, t2)
	if err != nil || c2.ID() != newID {
		t.Errorf("second decision: id %v err %v, want %v", c2.ID(), err, newID)
	}
	if _, err := o.Win(WinOpportunity{}, t2); KindOf(err) != KindConflict {
		t.Errorf("winning a won opportunity: %v", err)
	}

	// A prospect without a contact name registers no contact.
	o3 := NewOpportunity()
	p := oppCreatedForProspect()
	p.Prospect = &Prospect{Name: "Solo"}
	o3.Apply(p)
	o3.Apply(oppAssigned("", "rep-2", nil))
	c3, err := o3.Win(WinOpportunity{}, t1)
	if err != nil || len(c3.Changes()) != 1 || c3.Name() != "Solo" {
		t.Errorf("prospect without contact: err %v, events %#v", err, c3.Changes())
	}
}

func TestOpportunityAccessors(t *testing.T) {
	o := NewOpportunity()
	if o.Exists() || o.Status() != "" || o.Prospect() != nil {
		t.Fatal("a new opportunity must be empty")
	}
	for _, e := range []Event{oppCreatedForCustomer(), oppAssigned("", "rep-1", ptr(custID)),
		&PlanItemAdded{OpportunityID: oppID, ItemID: itemID, DueDate: t1, Action: "call"},
		PlanItemResultRecorded{OpportunityID: oppID, ItemID: itemID, Result: "ok"}} {
		o.Apply(e)
	}
	if !o.Exists() || o.ID() != oppID || o.CustomerID() != custID || o.Title() != "Framework deal" || o.CreatedBy() != "mgr-1" ||
		o.AssigneeID() != "rep-1" || o.Status() != OpportunityStatusAssigned || o.Details().Currency != "EUR" {
		t.Errorf("unexpected state %+v", o)
	}
	if diff := cmp.Diff([]PlanItem{{ID: itemID, DueDate: t1, Action: "call", Result: "ok"}}, o.Plan()); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if err := o.Assign("rep-2", t1); err != nil {
		t.Fatal(err)
	}
	o.ClearChanges()
	if len(o.Changes()) != 0 {
		t.Error("ClearChanges kept changes")
	}
}
