package usage

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/money"
)

// maxReportRange bounds one report, so that a mistyped year does not scan
// the whole ledger.
const maxReportRange = 400 * 24 * time.Hour

// Report is the GetUsage answer of every service: the summary between
// start (inclusive) and end (exclusive), checked first. A missing or
// inverted range is INVALID_ARGUMENT naming the field.
func (l *Ledger) Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error) {
	switch {
	case start == nil:
		return nil, domainerr.InvalidArgument("start_time", "REQUIRED", "is required, e.g. 2026-11-01T00:00:00Z")
	case end == nil:
		return nil, domainerr.InvalidArgument("end_time", "REQUIRED", "is required, e.g. 2026-12-01T00:00:00Z")
	case !end.AsTime().After(start.AsTime()):
		return nil, domainerr.InvalidArgument("end_time", "RANGE_EMPTY", "must be after start_time")
	case end.AsTime().Sub(start.AsTime()) > maxReportRange:
		return nil, domainerr.InvalidArgument("end_time", "RANGE_TOO_LONG", "must be at most 400 days after start_time")
	}
	rows, err := l.Summary(ctx, start.AsTime(), end.AsTime())
	if err != nil {
		return nil, err
	}
	r := &usagev1.UsageReport{Service: l.service, StartTime: start, EndTime: end}
	var total, unknown int64
	for _, row := range rows {
		r.Rows = append(r.Rows, &usagev1.UsageRow{Day: row.Day, Caller: row.Caller, Vendor: row.Vendor, Endpoint: row.Endpoint,
			Calls: row.Calls, Failures: row.Failures, CostYuan: money.Yuan(row.CostFen),
			UnknownCalls: row.UnknownCalls, UnknownCostYuan: money.Yuan(row.UnknownCostFen)})
		r.TotalCalls += row.Calls
		total += row.CostFen
		unknown += row.UnknownCostFen
	}
	r.TotalCostYuan = money.Yuan(total)
	r.TotalUnknownCostYuan = money.Yuan(unknown)
	return r, nil
}
