//! [`fair_shares`]: weighted max-min fair division of the pool's slots between tenants.

use godel_types::TenantId;

/// Divides `total_capacity` slots between tenants by weighted max-min fairness (water-filling).
///
/// Each demand is `(tenant, weight, wanted)`. The result holds one `(tenant, share)` per demand,
/// in the same order, and:
/// - no tenant gets more than it wants, and the shares sum to
///   `min(total_capacity, total wanted)`: capacity a tenant does not want goes to the others;
/// - tenants that cannot all be satisfied share alike per unit of weight: a common water level
///   `λ` gives each `min(wanted, λ × weight)`;
/// - slots that do not divide evenly go one each to the largest fractional parts, ties to the
///   smallest tenant id (then the earlier demand), so the result never depends on input order.
///
/// A weight of 0 means best effort: such tenants share, equally, only what the weighted tenants
/// leave over. Pass each tenant once; repeated tenants are treated as separate claimants.
///
/// A tenant running fewer tasks than its share may start more; one at or above its share
/// should wait while another is below its own.
#[must_use]
pub fn fair_shares(total_capacity: u32, demands: &[(TenantId, u32, u32)]) -> Vec<(TenantId, u32)> {
    let mut shares = vec![0u32; demands.len()];
    let claimants = |best_effort: bool| -> Vec<Claimant<'_>> {
        demands
            .iter()
            .enumerate()
            .filter(|(_, (_, weight, wanted))| *wanted > 0 && (*weight == 0) == best_effort)
            .map(|(index, (tenant, weight, wanted))| Claimant {
                index,
                tenant,
                weight: u128::from((*weight).max(1)),
                wanted: u128::from(*wanted),
            })
            .collect()
    };
    let given = water_fill(u128::from(total_capacity), claimants(false), &mut shares);
    water_fill(
        u128::from(total_capacity) - given,
        claimants(true),
        &mut shares,
    );
    demands
        .iter()
        .zip(shares)
        .map(|((tenant, _, _), share)| (tenant.clone(), share))
        .collect()
}

/// One demand taking part in a water-filling pass. Numbers are `u128` so every product of a
/// capacity and a weight is exact.
struct Claimant<'a> {
    index: usize,
    tenant: &'a TenantId,
    weight: u128,
    wanted: u128,
}

impl Claimant<'_> {
    /// Deterministic tie-break: tenant id, then position in the input.
    fn tie_break(&self, other: &Self) -> std::cmp::Ordering {
        self.tenant
            .cmp(other.tenant)
            .then(self.index.cmp(&other.index))
    }
}

/// Fills `capacity` slots into `claimants` (writing `shares[index]`); returns the slots given.
fn water_fill(capacity: u128, mut claimants: Vec<Claimant<'_>>, shares: &mut [u32]) -> u128 {
    // Lowest saturation level (wanted / weight) first, compared exactly by cross-multiplying.
    claimants.sort_by(|a, b| {
        (a.wanted * b.weight)
            .cmp(&(b.wanted * a.weight))
            .then_with(|| a.tie_break(b))
    });
    let mut remaining = capacity;
    let mut weight_left: u128 = claimants.iter().map(|c| c.weight).sum();
    let mut satisfied = 0;
    // A claimant whose whole demand fits below the current level `remaining / weight_left` is
    // satisfied; that can only raise the level for the others.
    for claimant in &claimants {
        if claimant.wanted * weight_left > remaining * claimant.weight {
            break;
        }
        shares[claimant.index] = narrow(claimant.wanted);
        remaining -= claimant.wanted;
        weight_left -= claimant.weight;
        satisfied += 1;
    }
    let mut unsatisfied: Vec<(u128, &Claimant<'_>)> = Vec::new();
    let mut handed = 0;
    // The rest all stop at the level: `remaining × weight / weight_left` each, rounded down...
    for claimant in &claimants[satisfied..] {
        let exact = remaining * claimant.weight;
        let share = exact / weight_left;
        shares[claimant.index] = narrow(share);
        handed += share;
        unsatisfied.push((exact % weight_left, claimant));
    }
    // ...and the slots rounding left over go one each to the largest fractional parts. There are
    // fewer such slots than claimants with a fractional part, and none of those is satisfied.
    unsatisfied.sort_by(|(a_frac, a), (b_frac, b)| b_frac.cmp(a_frac).then_with(|| a.tie_break(b)));
    let leftover = usize::try_from(remaining - handed).unwrap_or(usize::MAX);
    let extra = leftover.min(unsatisfied.len());
    for (_, claimant) in &unsatisfied[..extra] {
        shares[claimant.index] += 1;
    }
    capacity - remaining + handed + extra as u128
}

/// A share back to `u32`: shares never exceed the capacity, itself a `u32`.
fn narrow(share: u128) -> u32 {
    u32::try_from(share).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    /// Shares for `(name, weight, wanted)` demands, as plain numbers in input order.
    fn shares(capacity: u32, demands: &[(&str, u32, u32)]) -> Vec<u32> {
        let demands: Vec<_> = demands
            .iter()
            .map(|&(name, weight, wanted)| (tenant(name), weight, wanted))
            .collect();
        let result = fair_shares(capacity, &demands);
        for ((asked, _, _), (got, _)) in demands.iter().zip(&result) {
            assert_eq!(asked, got, "one share per demand, in input order");
        }
        result.into_iter().map(|(_, share)| share).collect()
    }

    #[test]
    fn when_everyone_fits_everyone_gets_what_they_want() {
        assert_eq!(shares(10, &[("a", 1, 3), ("b", 5, 4)]), [3, 4]);
        assert_eq!(shares(10, &[]), Vec::<u32>::new());
    }

    #[test]
    fn equal_weights_split_equally() {
        assert_eq!(
            shares(9, &[("a", 1, 10), ("b", 1, 10), ("c", 1, 10)]),
            [3, 3, 3]
        );
    }

    #[test]
    fn weights_split_in_proportion() {
        assert_eq!(
            shares(12, &[("a", 1, 100), ("b", 2, 100), ("c", 3, 100)]),
            [2, 4, 6]
        );
    }

    #[test]
    fn what_a_small_tenant_does_not_want_goes_to_the_others() {
        // a wants 1 of its fair 5; b and c split the other 9 by weight 1:2.
        assert_eq!(
            shares(10, &[("a", 1, 1), ("b", 1, 100), ("c", 2, 100)]),
            [1, 3, 6]
        );
        // Nobody gets more than it wants, even with capacity to spare.
        assert_eq!(shares(100, &[("a", 1, 1), ("b", 9, 2)]), [1, 2]);
    }

    #[test]
    fn rounding_goes_to_the_largest_remainder_then_the_smallest_tenant_id() {
        // 10 slots at weights 1:1:1: 3.33 each; the odd slot goes to "a" whatever the order.
        assert_eq!(
            shares(10, &[("c", 1, 9), ("a", 1, 9), ("b", 1, 9)]),
            [3, 4, 3]
        );
        // 5 slots at weights 1:2 is 1.67 and 3.33: the larger remainder (0.67) takes the slot.
        assert_eq!(shares(5, &[("a", 1, 9), ("b", 2, 9)]), [2, 3]);
    }

    #[test]
    fn zero_capacity_gives_nothing_and_zero_demand_takes_nothing() {
        assert_eq!(shares(0, &[("a", 1, 5), ("b", 1, 5)]), [0, 0]);
        assert_eq!(shares(5, &[("a", 1, 0), ("b", 1, 9)]), [0, 5]);
    }

    #[test]
    fn weight_zero_tenants_only_get_what_the_others_leave() {
        assert_eq!(shares(10, &[("batch", 0, 10), ("a", 1, 10)]), [0, 10]);
        assert_eq!(shares(10, &[("batch", 0, 10), ("a", 1, 4)]), [6, 4]);
        assert_eq!(
            shares(7, &[("x", 0, 10), ("y", 0, 10), ("a", 1, 2)]),
            [3, 2, 2]
        );
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        let max = u32::MAX;
        assert_eq!(
            shares(max, &[("a", max, max), ("b", max, max)]),
            [max / 2 + 1, max / 2]
        );
        assert_eq!(shares(max, &[("a", 1, max), ("b", max, 1)]), [max - 1, 1]);
    }
}
