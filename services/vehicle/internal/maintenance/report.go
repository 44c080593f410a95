package maintenance

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vendorgate/vendorgate/internal/vendorjson"
)

// reportJSON is a ready report (data.detail with resultCode 1205), with
// drift-tolerant types: the samples send flags as 0/1, mileage both as
// numbers and as strings, and leave fields out.
type reportJSON struct {
	Brand            vendorjson.String           `json:"brand"`
	ModelName        vendorjson.String           `json:"modelName"`
	SeriesName       vendorjson.String           `json:"seriesName"`
	VIN              vendorjson.String           `json:"vin"`
	Manufacturer     vendorjson.String           `json:"manufacturer"`
	MakeDate         vendorjson.String           `json:"makeDate"`
	TransmissionType vendorjson.String           `json:"transmissionType"`
	Displacement     vendorjson.String           `json:"displacement"`
	EffluentStandard vendorjson.String           `json:"effluentStandard"`
	CarFireFlag      vendorjson.Bool             `json:"carFireFlag"`
	CarWaterFlag     vendorjson.Bool             `json:"carWaterFlag"`
	ComponentFlag    vendorjson.Bool             `json:"carComponentRecordsFlag"`
	ConstructFlag    vendorjson.Bool             `json:"carConstructRecordsFlag"`
	OutsideFlag      vendorjson.Bool             `json:"carOutsideRecordsFlag"`
	MileageNormal    vendorjson.Bool             `json:"mileageIsNormalFlag"`
	MileageEstimate  vendorjson.Int              `json:"mileageEstimate"`
	LastMainTainTime vendorjson.String           `json:"lastMainTainTime"`
	MainTainTimes    vendorjson.Float            `json:"mainTainTimes"`
	LastRepairTime   vendorjson.String           `json:"lastRepairTime"`
	MileageEveryYear vendorjson.Int              `json:"mileageEveryYear"`
	Normal           vendorjson.List[recordJSON] `json:"normalRepairRecords"`
	Component        vendorjson.List[recordJSON] `json:"componentAnalyzeRepairRecords"`
	Outside          vendorjson.List[recordJSON] `json:"outsideAnalyzeRepairRecords"`
}

// recordJSON is one element of the three record lists.
type recordJSON struct {
	Content      vendorjson.String     `json:"content"`
	RepairDate   vendorjson.String     `json:"repairDate"`
	Materal      vendorjson.String     `json:"materal"` // sic
	Mileage      vendorjson.Int        `json:"mileage"`
	MainTainDate vendorjson.UnixMillis `json:"mainTainDate"`
	Type         vendorjson.String     `json:"type"`
}

// Report is a maintenance-record report.
type Report struct {
	// Brand is the make, e.g. "路虎" (vendor: brand).
	Brand string
	// ModelName is the model (vendor: modelName).
	ModelName string
	// SeriesName is the series (vendor: seriesName).
	SeriesName string
	// MaskedVIN is the VIN as the vendor prints it, partly masked (vendor: vin).
	MaskedVIN string
	// Manufacturer is the maker, e.g. "进口路虎" (vendor: manufacturer).
	Manufacturer string
	// MakeYear is the model year, 0 when unknown (vendor: makeDate).
	MakeYear int
	// Transmission is the gearbox type (vendor: transmissionType).
	Transmission string
	// Displacement is the displacement as sent, e.g. "3.0T" (vendor: displacement).
	Displacement string
	// EmissionStandard is e.g. "欧五" (vendor: effluentStandard).
	EmissionStandard string
	// FireDamage says the records show fire damage (vendor: carFireFlag).
	FireDamage bool
	// WaterDamage says the records show flood damage (vendor: carWaterFlag).
	WaterDamage bool
	// ComponentRepairs says major components were repaired (vendor: carComponentRecordsFlag).
	ComponentRepairs bool
	// StructuralRepairs says the structure was repaired (vendor: carConstructRecordsFlag).
	StructuralRepairs bool
	// ExteriorRepairs says the exterior was repaired (vendor: carOutsideRecordsFlag).
	ExteriorRepairs bool
	// MileageNormal says the mileage never went backwards (vendor: mileageIsNormalFlag).
	MileageNormal bool
	// EstimatedMileage is today's estimated odometer reading in km (vendor: mileageEstimate).
	EstimatedMileage int64
	// YearlyMileage is the average km per year (vendor: mileageEveryYear).
	YearlyMileage int64
	// MaintenancePerYear is the services per year (vendor: mainTainTimes).
	MaintenancePerYear float64
	// LastMaintenanceDate is "YYYY-MM-DD" or "" (vendor: lastMainTainTime).
	LastMaintenanceDate string
	// LastRepairDate is "YYYY-MM-DD" or "" (vendor: lastRepairTime).
	LastRepairDate string
	// RepairRecords are all visits (vendor: normalRepairRecords).
	RepairRecords []Record
	// ComponentRecords are the visits touching major components (vendor:
	// componentAnalyzeRepairRecords).
	ComponentRecords []Record
	// ExteriorRecords are the visits touching the exterior (vendor:
	// outsideAnalyzeRepairRecords).
	ExteriorRecords []Record
	// Raw is data.detail exactly as sent.
	Raw json.RawMessage
}

// Record is one workshop visit.
type Record struct {
	// RepairDate is "YYYY-MM-DD" or "" (vendor: repairDate).
	RepairDate string
	// MaintainTime is the visit's time, zero when unknown (vendor:
	// mainTainDate, unix ms).
	MaintainTime time.Time
	// Mileage is the odometer reading in km (vendor: mileage).
	Mileage int64
	// Type is the visit's kind, e.g. "一般维修" (vendor: type).
	Type string
	// Content is the work done as sent (vendor: content).
	Content string
	// WorkItems are the "; "-separated items of Content.
	WorkItems []string
	// Parts are the parts used, parsed from PartsText.
	Parts []Part
	// PartsText is the parts list as sent (vendor: materal).
	PartsText string
}

// Part is one "name:quantity" item of a parts list.
type Part struct {
	// Name of the part.
	Name string
	// Quantity used; 0 when the text gives no whole number.
	Quantity int64
}

// decodeReport types a ready report's detail.
func decodeReport(detail json.RawMessage) (*Report, error) {
	if len(detail) == 0 {
		return nil, fmt.Errorf("ready report without detail")
	}
	var j reportJSON
	if err := vendorjson.Decode(detail, &j); err != nil {
		return nil, fmt.Errorf("report detail: %w", err)
	}
	return &Report{
		Brand:               string(j.Brand),
		ModelName:           string(j.ModelName),
		SeriesName:          string(j.SeriesName),
		MaskedVIN:           string(j.VIN),
		Manufacturer:        string(j.Manufacturer),
		MakeYear:            year(string(j.MakeDate)),
		Transmission:        string(j.TransmissionType),
		Displacement:        string(j.Displacement),
		EmissionStandard:    string(j.EffluentStandard),
		FireDamage:          bool(j.CarFireFlag),
		WaterDamage:         bool(j.CarWaterFlag),
		ComponentRepairs:    bool(j.ComponentFlag),
		StructuralRepairs:   bool(j.ConstructFlag),
		ExteriorRepairs:     bool(j.OutsideFlag),
		MileageNormal:       bool(j.MileageNormal),
		EstimatedMileage:    int64(j.MileageEstimate),
		YearlyMileage:       int64(j.MileageEveryYear),
		MaintenancePerYear:  float64(j.MainTainTimes),
		LastMaintenanceDate: date(j.LastMainTainTime),
		LastRepairDate:      date(j.LastRepairTime),
		RepairRecords:       records(j.Normal),
		ComponentRecords:    records(j.Component),
		ExteriorRecords:     records(j.Outside),
		Raw:                 detail,
	}, nil
}

func records(in []recordJSON) []Record {
	out := make([]Record, 0, len(in))
	for _, r := range in {
		rec := Record{
			RepairDate: date(r.RepairDate),
			Mileage:    int64(r.Mileage),
			Type:       string(r.Type),
			Content:    string(r.Content),
			WorkItems:  items(string(r.Content)),
			Parts:      parts(string(r.Materal)),
			PartsText:  string(r.Materal),
		}
		if r.MainTainDate.Valid {
			rec.MaintainTime = r.MainTainDate.Time
		}
		out = append(out, rec)
	}
	return out
}

// items splits a "; "-separated list (ASCII or full-width semicolons),
// dropping empty items.
func items(s string) []string {
	var out []string
	for _, it := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '；' }) {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// parts parses "名称:数量; 名称:数量; ". An item without a whole-number
// quantity after its last colon keeps its whole text as the name.
func parts(s string) []Part {
	var out []Part
	for _, it := range items(s) {
		it = strings.ReplaceAll(it, "：", ":")
		p := Part{Name: it}
		if i := strings.LastIndex(it, ":"); i >= 0 {
			if n, err := strconv.ParseInt(strings.TrimSpace(it[i+1:]), 10, 64); err == nil && n >= 0 {
				p = Part{Name: strings.TrimSpace(it[:i]), Quantity: n}
			}
		}
		out = append(out, p)
	}
	return out
}

// year reads a model year from the start of makeDate ("2014", "2014-06").
func year(s string) int {
	if len(s) < 4 {
		return 0
	}
	y, err := strconv.Atoi(s[:4])
	if err != nil || y < 1900 || y > 2200 {
		return 0
	}
	return y
}
