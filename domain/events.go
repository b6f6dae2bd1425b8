package domain

import (
	"reflect"
	"time"

	"github.com/google/uuid"
)

// Event is implemented by every event struct of the catalogue. EventType
// returns the stable, stored PascalCase type name (never derived from the Go
// type name). Events are plain values; their JSON form (camelCase fields) is
// the stored data, pinned by golden files in testdata/events/.
type Event interface {
	EventType() string
}

// EventType describes one event type for the codec table: its stored name,
// the schema version written today, and a constructor of a zero value to
// decode into. New returns the event as a value (not a pointer), so a codec
// built from this table decodes into values, the form the aggregates'
// Apply and Changes use.
type EventType struct {
	Name          string
	SchemaVersion int
	New           func() Event
}

// Event type names: the stored names, stable forever.
const (
	TypeCustomerRegistered        = "CustomerRegistered"
	TypeCustomerProfileChanged    = "CustomerProfileChanged"
	TypeCustomerLevelChanged      = "CustomerLevelChanged"
	TypeCustomerCreditRated       = "CustomerCreditRated"
	TypeCustomerSatisfactionRated = "CustomerSatisfactionRated"
	TypeCustomerOwnerAssigned     = "CustomerOwnerAssigned"
	TypeContactAdded              = "ContactAdded"
	TypeContactChanged            = "ContactChanged"
	TypeContactRemoved            = "ContactRemoved"
	TypeInteractionLogged         = "InteractionLogged"
	TypeChurnWarningRaised        = "ChurnWarningRaised"
	TypeChurnDeferred             = "ChurnDeferred"
	TypeChurnConfirmed            = "ChurnConfirmed"
	TypeChurnWarningCleared       = "ChurnWarningCleared"
	TypeCustomerReactivated       = "CustomerReactivated"

	TypeOpportunityCreated     = "OpportunityCreated"
	TypeOpportunityChanged     = "OpportunityChanged"
	TypeOpportunityAssigned    = "OpportunityAssigned"
	TypePlanItemAdded          = "PlanItemAdded"
	TypePlanItemChanged        = "PlanItemChanged"
	TypePlanItemResultRecorded = "PlanItemResultRecorded"
	TypeOpportunityWon         = "OpportunityWon"
	TypeOpportunityLost        = "OpportunityLost"

	TypeServiceRequestOpened    = "ServiceRequestOpened"
	TypeServiceRequestAssigned  = "ServiceRequestAssigned"
	TypeServiceRequestHandled   = "ServiceRequestHandled"
	TypeServiceFeedbackRecorded = "ServiceFeedbackRecorded"
	TypeServiceRequestArchived  = "ServiceRequestArchived"
	TypeServiceRequestReopened  = "ServiceRequestReopened"

	TypeOrderPlaced     = "OrderPlaced"
	TypeOrderShipped    = "OrderShipped"
	TypeOrderDelivered  = "OrderDelivered"
	TypePaymentReceived = "PaymentReceived"
	TypeOrderCancelled  = "OrderCancelled"
	TypeOrderReturned   = "OrderReturned"
)

func et[E Event](name string) EventType {
	return EventType{Name: name, SchemaVersion: 1, New: func() Event { var e E; return e }}
}

// EventTypes returns the codec table: every event type of the catalogue, in
// catalogue order. Register each one with the event store's codec:
//
//	for _, t := range domain.EventTypes() {
//		codec.Register(t.Name, t.SchemaVersion, func() any { return t.New() })
//	}
func EventTypes() []EventType {
	return []EventType{
		et[CustomerRegistered](TypeCustomerRegistered),
		et[CustomerProfileChanged](TypeCustomerProfileChanged),
		et[CustomerLevelChanged](TypeCustomerLevelChanged),
		et[CustomerCreditRated](TypeCustomerCreditRated),
		et[CustomerSatisfactionRated](TypeCustomerSatisfactionRated),
		et[CustomerOwnerAssigned](TypeCustomerOwnerAssigned),
		et[ContactAdded](TypeContactAdded),
		et[ContactChanged](TypeContactChanged),
		et[ContactRemoved](TypeContactRemoved),
		et[InteractionLogged](TypeInteractionLogged),
		et[ChurnWarningRaised](TypeChurnWarningRaised),
		et[ChurnDeferred](TypeChurnDeferred),
		et[ChurnConfirmed](TypeChurnConfirmed),
		et[ChurnWarningCleared](TypeChurnWarningCleared),
		et[CustomerReactivated](TypeCustomerReactivated),

		et[OpportunityCreated](TypeOpportunityCreated),
		et[OpportunityChanged](TypeOpportunityChanged),
		et[OpportunityAssigned](TypeOpportunityAssigned),
		et[PlanItemAdded](TypePlanItemAdded),
		et[PlanItemChanged](TypePlanItemChanged),
		et[PlanItemResultRecorded](TypePlanItemResultRecorded),
		et[OpportunityWon](TypeOpportunityWon),
		et[OpportunityLost](TypeOpportunityLost),

		et[ServiceRequestOpened](TypeServiceRequestOpened),
		et[ServiceRequestAssigned](TypeServiceRequestAssigned),
		et[ServiceRequestHandled](TypeServiceRequestHandled),
		et[ServiceFeedbackRecorded](TypeServiceFeedbackRecorded),
		et[ServiceRequestArchived](TypeServiceRequestArchived),
		et[ServiceRequestReopened](TypeServiceRequestReopened),

		et[OrderPlaced](TypeOrderPlaced),
		et[OrderShipped](TypeOrderShipped),
		et[OrderDelivered](TypeOrderDelivered),
		et[PaymentReceived](TypePaymentReceived),
		et[OrderCancelled](TypeOrderCancelled),
		et[OrderReturned](TypeOrderReturned),
	}
}

// LookupEventType returns the table entry of a stored type name.
func LookupEventType(name string) (EventType, bool) {
	for _, t := range EventTypes() {
		if t.Name == name {
			return t, true
		}
	}
	return EventType{}, false
}

// deref turns a *T event into its T value, so Apply accepts both forms.
func deref(e Event) Event {
	if e == nil {
		return nil
	}
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		if ev, ok := v.Elem().Interface().(Event); ok {
			return ev
		}
	}
	return e
}

// FieldChange is one changed field of a patch event: the body name of the
// field and its old and new values as text (decimals and numbers in their
// canonical text form, times in RFC 3339).
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// ---- Customer events (stream customer-<id>) ----

// CustomerRegistered is the first event of a customer stream.
type CustomerRegistered struct {
	CustomerID   uuid.UUID `json:"customerId"`
	Profile                // the profile fields, flattened into the event
	Level        int       `json:"level"`
	Credit       int       `json:"credit,omitempty"`
	Satisfaction int       `json:"satisfaction,omitempty"`
	OwnerID      string    `json:"ownerId,omitempty"`
	// OpportunityID is set when the customer was registered by winning an
	// opportunity for a prospect.
	OpportunityID *uuid.UUID `json:"opportunityId,omitempty"`
	// ExternalRef names the customer in a source system ("online-retail:12346").
	ExternalRef  string    `json:"externalRef,omitempty"`
	RegisteredAt time.Time `json:"registeredAt"`
}

// CustomerProfileChanged carries every changed profile field with its old
// and new value, and the whole profile after the change.
type CustomerProfileChanged struct {
	CustomerID uuid.UUID     `json:"customerId"`
	Changes    []FieldChange `json:"changes"`
	Profile    Profile       `json:"profile"`
}

// CustomerLevelChanged: level 1–5 (see LevelName).
type CustomerLevelChanged struct {
	CustomerID uuid.UUID `json:"customerId"`
	From       int       `json:"from"`
	To         int       `json:"to"`
}

// CustomerCreditRated: credit 1–5; From is 0 when it was never rated.
type CustomerCreditRated struct {
	CustomerID uuid.UUID `json:"customerId"`
	From       int       `json:"from"`
	To         int       `json:"to"`
}

// CustomerSatisfactionRated: satisfaction 1–5; From is 0 when it was never rated.
type CustomerSatisfactionRated struct {
	CustomerID uuid.UUID `json:"customerId"`
	From       int       `json:"from"`
	To         int       `json:"to"`
}

// CustomerOwnerAssigned: the customer manager changes.
type CustomerOwnerAssigned struct {
	CustomerID      uuid.UUID `json:"customerId"`
	PreviousOwnerID string    `json:"previousOwnerId"`
	OwnerID         string    `json:"ownerId"`
}

// ContactAdded adds a contact person to a customer.
type ContactAdded struct {
	CustomerID uuid.UUID `json:"customerId"`
	ContactID  uuid.UUID `json:"contactId"`
	Contact              // the contact's fields, flattened
}

// ContactChanged carries every changed field with its old and new value and
// the whole contact after the change.
type ContactChanged struct {
	CustomerID uuid.UUID     `json:"customerId"`
	ContactID  uuid.UUID     `json:"contactId"`
	Changes    []FieldChange `json:"changes"`
	Contact    Contact       `json:"contact"`
}

// ContactRemoved removes a contact; it carries the removed contact's name
// for the timeline.
type ContactRemoved struct {
	CustomerID uuid.UUID `json:"customerId"`
	ContactID  uuid.UUID `json:"contactId"`
	Name       string    `json:"name"`
}

// InteractionLogged records a call, email, visit, meeting… with a customer.
type InteractionLogged struct {
	CustomerID    uuid.UUID  `json:"customerId"`
	InteractionID uuid.UUID  `json:"interactionId"`
	Channel       string     `json:"channel"`
	OccurredAt    time.Time  `json:"occurredAt"`
	Place         string     `json:"place,omitempty"`
	Summary       string     `json:"summary"`
	Detail        string     `json:"detail,omitempty"`
	ContactID     *uuid.UUID `json:"contactId,omitempty"`
}

// ChurnSignal is one reason behind a churn warning with its contribution to
// the score ("no order for 212 days").
type ChurnSignal struct {
	Signal       string  `json:"signal"`
	Contribution float64 `json:"contribution"`
	Detail       string  `json:"detail,omitempty"`
}

// ChurnWarningRaised puts the customer at risk. Why is "rule" or "score".
type ChurnWarningRaised struct {
	CustomerID     uuid.UUID      `json:"customerId"`
	Why            string         `json:"why"`
	Score          *int           `json:"score,omitempty"`
	Signals        []ChurnSignal  `json:"signals"`
	PreviousStatus CustomerStatus `json:"previousStatus"`
	RaisedAt       time.Time      `json:"raisedAt"`
}

// ChurnDeferred records a retention measure taken on an at-risk customer;
// it may be recorded any number of times; the customer stays at risk.
type ChurnDeferred struct {
	CustomerID uuid.UUID `json:"customerId"`
	Measure    string    `json:"measure"`
	DeferredAt time.Time `json:"deferredAt"`
}

// ChurnConfirmed marks the customer as lost, with the reason.
type ChurnConfirmed struct {
	CustomerID     uuid.UUID      `json:"customerId"`
	Reason         string         `json:"reason"`
	PreviousStatus CustomerStatus `json:"previousStatus"`
	ConfirmedAt    time.Time      `json:"confirmedAt"`
}

// ChurnWarningCleared takes an at-risk customer back to active.
type ChurnWarningCleared struct {
	CustomerID uuid.UUID `json:"customerId"`
	Reason     string    `json:"reason,omitempty"`
	ClearedAt  time.Time `json:"clearedAt"`
}

// CustomerReactivated takes a lost or at-risk customer back to active.
type CustomerReactivated struct {
	CustomerID     uuid.UUID      `json:"customerId"`
	Reason         string         `json:"reason,omitempty"`
	PreviousStatus CustomerStatus `json:"previousStatus"`
	ReactivatedAt  time.Time      `json:"reactivatedAt"`
}

// ---- Opportunity events (stream opportunity-<id>) ----

// OpportunityCreated is the first event of an opportunity stream. Exactly
// one of CustomerID and Prospect is set.
type OpportunityCreated struct {
	OpportunityID uuid.UUID  `json:"opportunityId"`
	CustomerID    *uuid.UUID `json:"customerId,omitempty"`
	Prospect      *Prospect  `json:"prospect,omitempty"`
	Title         string     `json:"title"`
	Source        string     `json:"source,omitempty"`
	Description   string     `json:"description,omitempty"`
	SuccessRate   int        `json:"successRate"`
	ExpectedValue *Decimal   `json:"expectedValue,omitempty"`
	Currency      string     `json:"currency,omitempty"`
	CreatedBy     string     `json:"createdBy,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
}

// OpportunityChanged carries every changed field with its old and new value
// and the editable details after the change.
type OpportunityChanged struct {
	OpportunityID uuid.UUID          `json:"opportunityId"`
	CustomerID    *uuid.UUID         `json:"customerId,omitempty"`
	Changes       []FieldChange      `json:"changes"`
	Details       OpportunityDetails `json:"details"`
}

// OpportunityAssigned gives the opportunity to a sales rep (unassigned →
// assigned, or a reassignment).
type OpportunityAssigned struct {
	OpportunityID      uuid.UUID  `json:"opportunityId"`
	CustomerID         *uuid.UUID `json:"customerId,omitempty"`
	PreviousAssigneeID string     `json:"previousAssigneeId"`
	AssigneeID         string     `json:"assigneeId"`
	AssignedAt         time.Time  `json:"assignedAt"`
}

// PlanItemAdded adds a step to the development plan.
type PlanItemAdded struct {
	OpportunityID uuid.UUID  `json:"opportunityId"`
	CustomerID    *uuid.UUID `json:"customerId,omitempty"`
	ItemID        uuid.UUID  `json:"itemId"`
	DueDate       time.Time  `json:"dueDate"`
	Action        string     `json:"action"`
}

// PlanItemChanged changes a plan step's due date or action.
type PlanItemChanged struct {
	OpportunityID uuid.UUID     `json:"opportunityId"`
	CustomerID    *uuid.UUID    `json:"customerId,omitempty"`
	ItemID        uuid.UUID     `json:"itemId"`
	Changes       []FieldChange `json:"changes"`
	DueDate       time.Time     `json:"dueDate"`
	Action        string        `json:"action"`
}

// PlanItemResultRecorded records what came of a plan step.
type PlanItemResultRecorded struct {
	OpportunityID  uuid.UUID  `json:"opportunityId"`
	CustomerID     *uuid.UUID `json:"customerId,omitempty"`
	ItemID         uuid.UUID  `json:"itemId"`
	PreviousResult string     `json:"previousResult,omitempty"`
	Result         string     `json:"result"`
	RecordedAt     time.Time  `json:"recordedAt"`
}

// OpportunityWon closes the opportunity as won. CustomerID is the existing
// customer, or the customer registered from the prospect
// (CustomerIDForOpportunity), in which case NewCustomer is true.
type OpportunityWon struct {
	OpportunityID uuid.UUID `json:"opportunityId"`
	CustomerID    uuid.UUID `json:"customerId"`
	NewCustomer   bool      `json:"newCustomer"`
	Amount        *Decimal  `json:"amount,omitempty"`
	Currency      string    `json:"currency,omitempty"`
	AssigneeID    string    `json:"assigneeId"`
	WonAt         time.Time `json:"wonAt"`
}

// OpportunityLost closes the opportunity as lost, with the reason.
type OpportunityLost struct {
	OpportunityID  uuid.UUID         `json:"opportunityId"`
	CustomerID     *uuid.UUID        `json:"customerId,omitempty"`
	Reason         string            `json:"reason"`
	PreviousStatus OpportunityStatus `json:"previousStatus"`
	LostAt         time.Time         `json:"lostAt"`
}

// ---- Service request events (stream service-<id>) ----

// ServiceRequestOpened is the first event of a service stream (state created).
type ServiceRequestOpened struct {
	ServiceRequestID uuid.UUID `json:"serviceRequestId"`
	CustomerID       uuid.UUID `json:"customerId"`
	Type             string    `json:"type"`
	Channel          string    `json:"channel,omitempty"`
	Title            string    `json:"title"`
	Request          string    `json:"request"`
	CreatedBy        string    `json:"createdBy,omitempty"`
	OpenedAt         time.Time `json:"openedAt"`
}

// ServiceRequestAssigned gives the request to a service agent.
type ServiceRequestAssigned struct {
	ServiceRequestID   uuid.UUID `json:"serviceRequestId"`
	CustomerID         uuid.UUID `json:"customerId"`
	PreviousAssigneeID string    `json:"previousAssigneeId"`
	AssigneeID         string    `json:"assigneeId"`
	AssignedAt         time.Time `json:"assignedAt"`
}

// ServiceRequestHandled records how the assignee handled the request.
type ServiceRequestHandled struct {
	ServiceRequestID uuid.UUID `json:"serviceRequestId"`
	CustomerID       uuid.UUID `json:"customerId"`
	Handling         string    `json:"handling"`
	HandledBy        string    `json:"handledBy"`
	HandledAt        time.Time `json:"handledAt"`
}

// ServiceFeedbackRecorded records the customer's feedback on the handling;
// it is always followed by ServiceRequestArchived (satisfaction ≥ 3) or
// ServiceRequestReopened (< 3).
type ServiceFeedbackRecorded struct {
	ServiceRequestID uuid.UUID `json:"serviceRequestId"`
	CustomerID       uuid.UUID `json:"customerId"`
	Result           string    `json:"result"`
	Satisfaction     int       `json:"satisfaction"`
	RecordedAt       time.Time `json:"recordedAt"`
}

// ServiceRequestArchived closes a request after satisfying feedback.
type ServiceRequestArchived struct {
	ServiceRequestID uuid.UUID `json:"serviceRequestId"`
	CustomerID       uuid.UUID `json:"customerId"`
	Satisfaction     int       `json:"satisfaction"`
	ArchivedAt       time.Time `json:"archivedAt"`
}

// ServiceRequestReopened sends a request back to its assignee (state
// assigned) after unsatisfying feedback.
type ServiceRequestReopened struct {
	ServiceRequestID uuid.UUID `json:"serviceRequestId"`
	CustomerID       uuid.UUID `json:"customerId"`
	AssigneeID       string    `json:"assigneeId"`
	Satisfaction     int       `json:"satisfaction"`
	ReopenedAt       time.Time `json:"reopenedAt"`
}

// ---- Order events (stream order-<id>) ----

// OrderPlaced is the first event of an order stream. Each line carries its
// computed amount (quantity × unit price) and Total their exact sum.
type OrderPlaced struct {
	OrderID         uuid.UUID   `json:"orderId"`
	CustomerID      uuid.UUID   `json:"customerId"`
	OrderNo         string      `json:"orderNo,omitempty"`
	OrderedAt       time.Time   `json:"orderedAt"`
	Currency        string      `json:"currency"`
	Lines           []OrderLine `json:"lines"`
	Total           Decimal     `json:"total"`
	ShippingAddress string      `json:"shippingAddress,omitempty"`
}

// OrderShipped: the order left with a carrier.
type OrderShipped struct {
	OrderID    uuid.UUID `json:"orderId"`
	CustomerID uuid.UUID `json:"customerId"`
	Carrier    string    `json:"carrier,omitempty"`
	TrackingNo string    `json:"trackingNo,omitempty"`
	ShippedAt  time.Time `json:"shippedAt"`
}

// OrderDelivered: the customer received the order.
type OrderDelivered struct {
	OrderID     uuid.UUID `json:"orderId"`
	CustomerID  uuid.UUID `json:"customerId"`
	DeliveredAt time.Time `json:"deliveredAt"`
}

// PaymentReceived records a payment; PaidTotal is the sum of all payments
// so far and FullyPaid says whether it covers the order's total net of
// returns.
type PaymentReceived struct {
	OrderID    uuid.UUID `json:"orderId"`
	CustomerID uuid.UUID `json:"customerId"`
	Amount     Decimal   `json:"amount"`
	Currency   string    `json:"currency"`
	Reference  string    `json:"reference,omitempty"`
	PaidTotal  Decimal   `json:"paidTotal"`
	FullyPaid  bool      `json:"fullyPaid"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// OrderCancelled cancels an order before delivery.
type OrderCancelled struct {
	OrderID        uuid.UUID   `json:"orderId"`
	CustomerID     uuid.UUID   `json:"customerId"`
	Reason         string      `json:"reason"`
	PreviousStatus OrderStatus `json:"previousStatus"`
	Total          Decimal     `json:"total"`
	Currency       string      `json:"currency"`
	CancelledAt    time.Time   `json:"cancelledAt"`
}

// OrderReturned records goods (some lines, possibly partial quantities)
// and/or an amount returned to the customer. ReturnedTotal is the sum of
// all returned amounts so far.
type OrderReturned struct {
	OrderID       uuid.UUID    `json:"orderId"`
	CustomerID    uuid.UUID    `json:"customerId"`
	ReturnNo      int          `json:"returnNo"`
	Lines         []ReturnLine `json:"lines,omitempty"`
	Amount        Decimal      `json:"amount"`
	Currency      string       `json:"currency"`
	Reason        string       `json:"reason,omitempty"`
	ReturnedTotal Decimal      `json:"returnedTotal"`
	ReturnedAt    time.Time    `json:"returnedAt"`
}

// EventType returns the stored type name "CustomerRegistered".
func (CustomerRegistered) EventType() string { return TypeCustomerRegistered }

// EventType returns the stored type name "CustomerProfileChanged".
func (CustomerProfileChanged) EventType() string { return TypeCustomerProfileChanged }

// EventType returns the stored type name "CustomerLevelChanged".
func (CustomerLevelChanged) EventType() string { return TypeCustomerLevelChanged }

// EventType returns the stored type name "CustomerCreditRated".
func (CustomerCreditRated) EventType() string { return TypeCustomerCreditRated }

// EventType returns the stored type name "CustomerSatisfactionRated".
func (CustomerSatisfactionRated) EventType() string { return TypeCustomerSatisfactionRated }

// EventType returns the stored type name "CustomerOwnerAssigned".
func (CustomerOwnerAssigned) EventType() string { return TypeCustomerOwnerAssigned }

// EventType returns the stored type name "ContactAdded".
func (ContactAdded) EventType() string { return TypeContactAdded }

// EventType returns the stored type name "ContactChanged".
func (ContactChanged) EventType() string { return TypeContactChanged }

// EventType returns the stored type name "ContactRemoved".
func (ContactRemoved) EventType() string { return TypeContactRemoved }

// EventType returns the stored type name "InteractionLogged".
func (InteractionLogged) EventType() string { return TypeInteractionLogged }

// EventType returns the stored type name "ChurnWarningRaised".
func (ChurnWarningRaised) EventType() string { return TypeChurnWarningRaised }

// EventType returns the stored type name "ChurnDeferred".
func (ChurnDeferred) EventType() string { return TypeChurnDeferred }

// EventType returns the stored type name "ChurnConfirmed".
func (ChurnConfirmed) EventType() string { return TypeChurnConfirmed }

// EventType returns the stored type name "ChurnWarningCleared".
func (ChurnWarningCleared) EventType() string { return TypeChurnWarningCleared }

// EventType returns the stored type name "CustomerReactivated".
func (CustomerReactivated) EventType() string { return TypeCustomerReactivated }

// EventType returns the stored type name "OpportunityCreated".
func (OpportunityCreated) EventType() string { return TypeOpportunityCreated }

// EventType returns the stored type name "OpportunityChanged".
func (OpportunityChanged) EventType() string { return TypeOpportunityChanged }

// EventType returns the stored type name "OpportunityAssigned".
func (OpportunityAssigned) EventType() string { return TypeOpportunityAssigned }

// EventType returns the stored type name "PlanItemAdded".
func (PlanItemAdded) EventType() string { return TypePlanItemAdded }

// EventType returns the stored type name "PlanItemChanged".
func (PlanItemChanged) EventType() string { return TypePlanItemChanged }

// EventType returns the stored type name "PlanItemResultRecorded".
func (PlanItemResultRecorded) EventType() string { return TypePlanItemResultRecorded }

// EventType returns the stored type name "OpportunityWon".
func (OpportunityWon) EventType() string { return TypeOpportunityWon }

// EventType returns the stored type name "OpportunityLost".
func (OpportunityLost) EventType() string { return TypeOpportunityLost }

// EventType returns the stored type name "ServiceRequestOpened".
func (ServiceRequestOpened) EventType() string { return TypeServiceRequestOpened }

// EventType returns the stored type name "ServiceRequestAssigned".
func (ServiceRequestAssigned) EventType() string { return TypeServiceRequestAssigned }

// EventType returns the stored type name "ServiceRequestHandled".
func (ServiceRequestHandled) EventType() string { return TypeServiceRequestHandled }

// EventType returns the stored type name "ServiceFeedbackRecorded".
func (ServiceFeedbackRecorded) EventType() string { return TypeServiceFeedbackRecorded }

// EventType returns the stored type name "ServiceRequestArchived".
func (ServiceRequestArchived) EventType() string { return TypeServiceRequestArchived }

// EventType returns the stored type name "ServiceRequestReopened".
func (ServiceRequestReopened) EventType() string { return TypeServiceRequestReopened }

// EventType returns the stored type name "OrderPlaced".
func (OrderPlaced) EventType() string { return TypeOrderPlaced }

// EventType returns the stored type name "OrderShipped".
func (OrderShipped) EventType() string { return TypeOrderShipped }

// EventType returns the stored type name "OrderDelivered".
func (OrderDelivered) EventType() string { return TypeOrderDelivered }

// EventType returns the stored type name "PaymentReceived".
func (PaymentReceived) EventType() string { return TypePaymentReceived }

// EventType returns the stored type name "OrderCancelled".
func (OrderCancelled) EventType() string { return TypeOrderCancelled }

// EventType returns the stored type name "OrderReturned".
func (OrderReturned) EventType() string { return TypeOrderReturned }
