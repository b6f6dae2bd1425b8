package main

import (
	"encoding"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crm-es/crm/audit"
	"github.com/crm-es/crm/projections"
	"github.com/crm-es/crm/projections/churn"
	rm "github.com/crm-es/crm/projections/readmodels"
)

// customer360 is the customer 360 answer: the customer document with its
// churn risk (null until scored).
type customer360 struct {
	rm.Customer
	ChurnRisk *churn.Risk `json:"churnRisk"`
}

// serviceReport is the service analysis answer: the year's report and the
// years there are reports for.
type serviceReport struct {
	rm.ServiceReport
	Years []string `json:"years"`
}

// projectionStatusList is the /v1/projections answer (/projections has no
// head).
type projectionStatusList struct {
	Projections []projections.Status `json:"projections"`
	Head        string               `json:"head,omitempty"`
}

// compositionAnswer is the customer composition answer: the counts by
// every dimension, or with ?by= that dimension's buckets.
type compositionAnswer struct {
	rm.Composition
	By      string `json:"by,omitempty"`
	Buckets []struct {
		Key   string  `json:"key"`
		Count int     `json:"count"`
		Share float64 `json:"share"`
	} `json:"buckets,omitempty"`
}

// contributionAnswer is the contribution report: a page of customers'
// contributions in the year and currency, the year's totals and the years
// there are reports for.
type contributionAnswer struct {
	Items []struct {
		rm.Contribution
		Name string `json:"name"`
	} `json:"items"`
	NextCursor *string             `json:"nextCursor"`
	Year       string              `json:"year"`
	Currency   string              `json:"currency"`
	Years      []string            `json:"years"`
	Total      rm.YearContribution `json:"total"`
}

// documentedModels are the response schemas of openapi.json that must
// describe the read models' Go types exactly (property names, JSON types,
// nesting).
var documentedModels = map[string]reflect.Type{
	"Customer":       reflect.TypeFor[rm.Customer](),
	"Customer360":    reflect.TypeFor[customer360](),
	"Opportunity":    reflect.TypeFor[rm.Opportunity](),
	"ServiceRequest": reflect.TypeFor[rm.ServiceRequest](),
	"Order":          reflect.TypeFor[rm.Order](),
	"TimelineItem":   reflect.TypeFor[rm.TimelineItem](),
	"ChurnRiskItem":  reflect.TypeFor[churn.Risk](),

	"Pipeline":             reflect.TypeFor[rm.Pipeline](),
	"Composition":          reflect.TypeFor[compositionAnswer](),
	"ContributionReport":   reflect.TypeFor[contributionAnswer](),
	"Overview":             reflect.TypeFor[rm.Overview](),
	"ServiceReport":        reflect.TypeFor[serviceReport](),
	"ChurnReport":          reflect.TypeFor[churn.RiskReport](),
	"ProjectionStatusList": reflect.TypeFor[projectionStatusList](),

	"AuditEvent":                reflect.TypeFor[audit.Event](),
	"AuditState":                reflect.TypeFor[audit.State](),
	"AuditCustomerVerification": reflect.TypeFor[audit.CustomerReport](),
	"AuditStreamVerification":   reflect.TypeFor[audit.StreamReport](),
}

// marshalerSchema is the schema of the types with a MarshalJSON of their
// own (not a MarshalText) that the documented models use; any other such
// type fails the test rather than being described by its Go kind.
func marshalerSchema(t reflect.Type) (map[string]any, bool) {
	switch t {
	case reflect.TypeFor[json.RawMessage]():
		return map[string]any{}, true // any JSON
	case reflect.TypeFor[audit.Position]():
		return map[string]any{"type": "string"}, true
	case reflect.TypeFor[rm.Amounts]():
		return jsonSchema(reflect.TypeFor[[]rm.Money]()), true
	}
	return nil, false
}

var (
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	timeType      = reflect.TypeFor[time.Time]()
)

// unknownMarshalers collects json.Marshaler types jsonSchema met that
// marshalerSchema does not describe.
var unknownMarshalers = map[reflect.Type]bool{}

// jsonSchema is the JSON schema of what encoding/json writes for t.
func jsonSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return map[string]any{"type": "string"}
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		if m, ok := marshalerSchema(t); ok {
			return m
		}
		unknownMarshalers[t] = true
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": jsonSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": jsonSchema(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		addStructFields(t, props)
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

// addStructFields adds the JSON fields of struct t (embedded structs
// without a name inlined, as encoding/json does).
func addStructFields(t reflect.Type, props map[string]any) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addStructFields(ft, props)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		s := jsonSchema(f.Type)
		if strings.Contains(","+opts+",", ",string,") {
			s = map[string]any{"type": "string"}
		}
		props[name] = s
	}
}

// TestOpenAPIResponseSchemas: the documented read-model schemas are the
// JSON the Go types write. CRM_OPENAPI_SCHEMAS_OUT=FILE writes the
// reflected schemas to FILE (to update the document after a read model
// changed).
func TestOpenAPIResponseSchemas(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	reflected := map[string]any{}
	for name, typ := range documentedModels {
		// Through JSON, so that both sides have the same Go types.
		b, err := json.Marshal(jsonSchema(typ))
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		reflected[name] = want
		if diff := cmp.Diff(want, doc.Components.Schemas[name]); diff != "" {
			t.Errorf("components.schemas.%s differs from %s (-Go +document):\n%s", name, typ, diff)
		}
	}
	for typ := range unknownMarshalers {
		t.Errorf("%s has its own MarshalJSON: describe its JSON in marshalerSchema", typ)
	}
	if out := os.Getenv("CRM_OPENAPI_SCHEMAS_OUT"); out != "" {
		b, err := json.MarshalIndent(reflected, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
