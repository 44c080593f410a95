package server

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	vehiclev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/vehicle/v1"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/maintenance"
	"github.com/vendorgate/vendorgate/services/vehicle/internal/store"
)

// reportView is an order's state and report as the proto has them.
type reportView struct {
	state  vehiclev1.ReportState
	report *vehiclev1.Report
}

// view maps a stored order to its proto state, decoding a ready report
// from the vendor answer the store kept.
func view(o store.Order) (reportView, error) {
	switch o.State {
	case store.StateNoRecords:
		return reportView{state: vehiclev1.ReportState_REPORT_STATE_NO_RECORDS}, nil
	case store.StateReady:
		res, err := maintenance.DecodeResult(o.Report)
		if err != nil || res.Report == nil {
			return reportView{}, fmt.Errorf("stored report of order %s: %w", o.OrderID, err)
		}
		return reportView{state: vehiclev1.ReportState_REPORT_STATE_READY, report: report(res.Report)}, nil
	default:
		return reportView{state: vehiclev1.ReportState_REPORT_STATE_PENDING}, nil
	}
}

func report(r *maintenance.Report) *vehiclev1.Report {
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

func records(in []maintenance.Record) []*vehiclev1.RepairRecord {
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
