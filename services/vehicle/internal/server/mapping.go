package server

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/internal/idempotency"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/reports"
)

// reportView is an order's state and report as the proto has them.
type reportView struct {
	state  vehiclev1.ReportState
	report *vehiclev1.Report
}

// view maps an order to its proto state, with its report decoded from the
// vendor answer the store kept when it is ready.
func view(o reports.Order) (reportView, error) {
	switch o.State {
	case reports.StateNoRecords:
		return reportView{state: vehiclev1.ReportState_REPORT_STATE_NO_RECORDS}, nil
	case reports.StateReady:
		r, err := o.DecodedReport()
		if err != nil {
			return reportView{}, err
		}
		return reportView{state: vehiclev1.ReportState_REPORT_STATE_READY, report: report(r)}, nil
	default:
		return reportView{state: vehiclev1.ReportState_REPORT_STATE_PENDING}, nil
	}
}

func report(r *reports.Report) *vehiclev1.Report {
	return &vehiclev1.Report{
		Brand:               r.Brand,
		ModelName:           r.ModelName,
		SeriesName:          r.SeriesName,
		MaskedVin:           r.MaskedVIN,
		Manufacturer:        r.Manufacturer,
		MakeYear:            int32(r.MakeYear),
		Transmission:        r.Transmission,
		Displacement:        r.Displacement,
		EmissionStandard:    r.EmissionStandard,
		FireDamage:          r.FireDamage,
		WaterDamage:         r.WaterDamage,
		ComponentRepairs:    r.ComponentRepairs,
		StructuralRepairs:   r.StructuralRepairs,
		ExteriorRepairs:     r.ExteriorRepairs,
		MileageNormal:       r.MileageNormal,
		EstimatedMileage:    int32Of(r.EstimatedMileage),
		YearlyMileage:       int32Of(r.YearlyMileage),
		MaintenancePerYear:  r.MaintenancePerYear,
		LastMaintenanceDate: r.LastMaintenanceDate,
		LastRepairDate:      r.LastRepairDate,
		RepairRecords:       records(r.RepairRecords),
		ComponentRecords:    records(r.ComponentRecords),
		ExteriorRecords:     records(r.ExteriorRecords),
		RawJson:             string(r.Raw),
	}
}

func records(in []reports.Record) []*vehiclev1.RepairRecord {
	out := make([]*vehiclev1.RepairRecord, 0, len(in))
	for _, r := range in {
		rec := &vehiclev1.RepairRecord{
			RepairDate:   r.RepairDate,
			MaintainTime: timestamp(r.MaintainTime),
			Mileage:      int32Of(r.Mileage),
			Type:         r.Type,
			Content:      r.Content,
			WorkItems:    r.WorkItems,
			PartsText:    r.PartsText,
		}
		for _, p := range r.Parts {
			rec.Parts = append(rec.Parts, &vehiclev1.Part{Name: p.Name, Quantity: int32Of(p.Quantity)})
		}
		out = append(out, rec)
	}
	return out
}

// operation maps a purchase of the request_id engine's records.
func operation(op reports.Operation) *vehiclev1.Operation {
	rec, p := op.Record, op.Purchase
	out := &vehiclev1.Operation{
		RequestId:    rec.RequestID,
		Vin:          p.VIN,
		EngineNumber: p.EngineNumber,
		PlateNumber:  p.PlateNumber,
		OrderId:      op.OrderID,
		CreateTime:   timestamp(rec.CreatedAt),
		Method:       rec.Method,
		Note:         rec.Note,
	}
	switch rec.Outcome() {
	case idempotency.Applied:
		out.State = vehiclev1.OperationState_OPERATION_STATE_APPLIED
	case idempotency.NotApplied:
		out.State = vehiclev1.OperationState_OPERATION_STATE_NOT_APPLIED
	default:
		out.State = vehiclev1.OperationState_OPERATION_STATE_UNKNOWN
	}
	for _, r := range rec.Resolutions {
		res := &vehiclev1.Resolution{Outcome: vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_NOT_APPLIED, Note: r.Note,
			ResolveTime: timestamp(r.At), ResolvedBy: r.By}
		if r.Outcome == idempotency.Applied {
			res.Outcome, res.OrderId = vehiclev1.ResolutionOutcome_RESOLUTION_OUTCOME_APPLIED, op.OrderID
		}
		out.Resolutions = append(out.Resolutions, res)
	}
	return out
}

// int32Of narrows a vendor count to the proto's int32, saturating: a
// mileage or quantity beyond it is vendor garbage, not a reason to fail.
func int32Of(n int64) int32 {
	return int32(max(min(n, math.MaxInt32), math.MinInt32))
}

// timestamp maps a time to the proto, nil for the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
