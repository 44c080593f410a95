package reports

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
)

// The request_id engine (internal/idempotency) keeps every purchase in the
// service's wire messages: it fingerprints the request (a repeat of a
// request_id must ask the same), keeps it for the operator, and records the
// response a repeat returns, all as protobuf. This file is the one place the
// use-case speaks them, so that records written before and after stay
// alike: OrderReport's request and response, and LookupHistory's request.

// orderReply is OrderReport's response, the type of every response the
// engine records for a purchase.
type orderReply = vehiclev1.OrderReportResponse

// orderResponse is a bought order as OrderReport answers it, and as the
// engine records it for a repeat of its request id.
func orderResponse(o Order) *orderReply {
	return &vehiclev1.OrderReportResponse{OrderId: o.OrderID, Vin: o.VIN, BoughtTime: timestamp(o.BoughtAt)}
}

// resolvedResponse is the response an operator's APPLIED finding records.
func resolvedResponse(orderID, vin string, boughtAt time.Time) *orderReply {
	return &vehiclev1.OrderReportResponse{OrderId: orderID, Vin: vin, BoughtTime: timestamp(boughtAt)}
}

// receiptOf is the Receipt of a purchase's response.
func receiptOf(resp *orderReply) Receipt {
	r := Receipt{OrderID: resp.GetOrderId(), VIN: resp.GetVin(), Replayed: resp.GetReplayed()}
	if resp.GetBoughtTime() != nil {
		r.BoughtAt = resp.GetBoughtTime().AsTime()
	}
	return r
}

// lookupRequest is the request a lookup's own purchase is fingerprinted by.
func lookupRequest(vin string) proto.Message {
	return &vehiclev1.LookupHistoryRequest{Vin: vin}
}

// adoptedRequest is the method and request of a purchase recorded before
// the engine kept vehicle's request ids, as its RPC would have asked it:
// a lookup's ("lookup-…") or OrderReport's.
func adoptedRequest(o Order) (method string, req proto.Message) {
	if strings.HasPrefix(o.RequestID, "lookup-") {
		return viaLookupHistory, lookupRequest(o.VIN)
	}
	return viaOrderReport, &vehiclev1.OrderReportRequest{
		Vin: o.VIN, EngineNumber: o.EngineNumber, PlateNumber: o.PlateNumber, RequestId: o.RequestID}
}

// purchaseOf is what was asked to be bought under op: the purchase's row
// when there is one, else the request the engine kept.
func purchaseOf(op idempotency.Operation, row Order) Purchase {
	if row.ID != "" {
		return Purchase{VIN: row.VIN, EngineNumber: row.EngineNumber, PlateNumber: row.PlateNumber, RequestID: row.RequestID}
	}
	p := Purchase{RequestID: op.RequestID}
	switch op.Method {
	case viaOrderReport:
		var req vehiclev1.OrderReportRequest
		if proto.Unmarshal(op.Request, &req) == nil {
			p.VIN, p.EngineNumber, p.PlateNumber = req.GetVin(), req.GetEngineNumber(), req.GetPlateNumber()
		}
	case viaLookupHistory:
		var req vehiclev1.LookupHistoryRequest
		if proto.Unmarshal(op.Request, &req) == nil {
			p.VIN = req.GetVin()
		}
	}
	return p
}

// timestamp maps a time to the proto, nil for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
