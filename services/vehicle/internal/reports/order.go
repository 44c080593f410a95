package reports

import (
	"errors"
	"fmt"
	"time"

	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
)

// State is where a purchase stands. The states of a purchase whose outcome
// is not known mirror the request_id engine's record of it
// (internal/idempotency, which owns the request_id): StateBuying is its
// IN_FLIGHT, StateUnknown its UNKNOWN, StateNotApplied its NOT_APPLIED, and
// a bought order its DONE. The service keeps them in its store for what the
// engine cannot answer: which purchases of a VIN have an unknown outcome.
type State string

// The purchase states.
const (
	// StateBuying is a purchase whose vendor call has not answered.
	StateBuying State = "BUYING"
	// StatePending is a bought order whose report is not ready.
	StatePending State = "PENDING"
	// StateReady is an order with its report.
	StateReady State = "READY"
	// StateNoRecords is an order the vendor has no records for.
	StateNoRecords State = "NO_RECORDS"
	// StateUnknown is a purchase whose vendor call got no usable answer
	// (a timeout, a dropped connection, a 5xx): the vendor may have sold
	// it. It is kept so that nothing buys again for it automatically.
	StateUnknown State = "UNKNOWN"
	// StateNotApplied is a purchase of unknown outcome that an operator
	// found the vendor did not sell.
	StateNotApplied State = "NOT_APPLIED"
)

// Finished reports whether the report of an order in state s will not change.
func (s State) Finished() bool { return s == StateReady || s == StateNoRecords }

// Outcome is a finding about a purchase of unknown outcome.
type Outcome string

// The outcomes.
const (
	// OutcomeApplied: the vendor sold the report.
	OutcomeApplied Outcome = "APPLIED"
	// OutcomeNotApplied: the vendor did not sell it.
	OutcomeNotApplied Outcome = "NOT_APPLIED"
)

// Errors a Store returns from its lookups, Begin and Settle.
var (
	// ErrNotFound is a lookup that found no order.
	ErrNotFound = errors.New("store: no such order")
	// ErrDuplicateRequest is Begin with a request id that a purchase of
	// unknown outcome (StateBuying or StateUnknown) holds.
	ErrDuplicateRequest = errors.New("store: request id held by a purchase of unknown outcome")
	// ErrOrderIDTaken is a resolution naming a vendor order id that another
	// purchase holds.
	ErrOrderIDTaken = errors.New("store: vendor order id belongs to another purchase")
)

// Purchase names a report about to be bought.
type Purchase struct {
	// VIN is the normalised VIN.
	VIN string
	// EngineNumber and PlateNumber are the optional vendor parameters.
	EngineNumber, PlateNumber string
	// RequestID is the caller's idempotency key; "" for none.
	RequestID string
}

// Order is one purchase.
type Order struct {
	// ID is the store's id of the purchase.
	ID string
	// OrderID is the vendor's order id; "" while StateBuying.
	OrderID string
	// VIN, EngineNumber, PlateNumber and RequestID are as purchased.
	VIN, EngineNumber, PlateNumber, RequestID string
	// State is where the purchase stands.
	State State
	// Report is the vendor's answer as sent, once the state is finished.
	Report []byte
	// CreatedAt is when the purchase started.
	CreatedAt time.Time
	// BoughtAt is when the vendor confirmed it; zero while StateBuying.
	BoughtAt time.Time
	// ReadyAt is when the report was first seen finished; zero before.
	ReadyAt time.Time
}

// Report is a maintenance-record report, the vendor package's domain type
// (never its JSON).
type Report = maintenance.Report

// Record is one workshop visit of a Report.
type Record = maintenance.Record

// Part is one part used in a Record.
type Part = maintenance.Part

// DecodedReport is the report of an order in StateReady, decoded from the
// vendor answer the store kept; nil for an order in any other state.
func (o Order) DecodedReport() (*Report, error) {
	if o.State != StateReady {
		return nil, nil
	}
	res, err := maintenance.DecodeResult(o.Report)
	if err != nil || res.Report == nil {
		return nil, fmt.Errorf("stored report of order %s: %w", o.OrderID, err)
	}
	return res.Report, nil
}

// sold reports whether o is an order the vendor sold.
func sold(o Order) bool {
	return o.OrderID != "" && (o.State == StatePending || o.State.Finished())
}
