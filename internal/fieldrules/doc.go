// Package fieldrules holds the test that every string field of every
// request of every service is bounded and clean in the contract (see
// proto/vendorgate/validate/v1/rules.proto): it walks the request messages
// by reflection, so that a field added later without a rule fails CI.
package fieldrules
