package auth

import "slices"

// paidOrMoneyRPCs are the RPCs ("pkg.Service/Method", as in an allow list)
// that spend money, move it, or decide what a spent call counts as: a
// caller may call them only when its allow list names them in full, never
// through "*" or "pkg.Service/*". This is the one table for every service;
// a test checks each entry against the generated FullMethodName constants.
var paidOrMoneyRPCs = []string{
	// A dispatch is paid (DINGDANG_DISPATCH_PRICE_YUAN).
	"vendorgate.delivery.v1.DeliveryService/CreateOrder",
	// An operator's resolution decides what a repeat of a request_id
	// returns, and whether an unknown outcome is booked as spent.
	"vendorgate.delivery.v1.DeliveryService/ResolveOperation",
	"vendorgate.esign.v1.EsignService/ResolveOperation",
	// A parcel order is paid; recharges, deductions and a batch's close move
	// the account's money.
	"vendorgate.logistics.v1.ParcelService/CreateParcelOrder",
	"vendorgate.logistics.v1.BillingService/Recharge",
	"vendorgate.logistics.v1.BillingService/Deduct",
	"vendorgate.logistics.v1.BillingService/CloseBatch",
	"vendorgate.logistics.v1.BillingService/ResolveOperation",
	// Reports and history lookups are bought.
	"vendorgate.vehicle.v1.VehicleService/OrderReport",
	"vendorgate.vehicle.v1.VehicleService/LookupHistory",
	"vendorgate.vehicle.v1.VehicleService/ResolveOperation",
}

// PaidOrMoneyRPCs returns the RPCs ("pkg.Service/Method") that spend or
// move money, or settle what a spent call counts as, in every service:
// the Guard allows them only to a caller whose allow list names them in
// full. Every Guard applies it; Options.Explicit can only add to it.
func PaidOrMoneyRPCs() []string { return slices.Clone(paidOrMoneyRPCs) }

// explicitSet is PaidOrMoneyRPCs with more, as a set.
func explicitSet(more []string) map[string]bool {
	set := make(map[string]bool, len(paidOrMoneyRPCs)+len(more))
	for _, m := range paidOrMoneyRPCs {
		set[m] = true
	}
	for _, m := range more {
		set[m] = true
	}
	return set
}
