//! When two painted numbers are too alike: a caller who misreads or mishears one digit string
//! could land on the other. Two digit strings of the same length are *confusable* when they are
//! at most two digit substitutions apart, or one adjacent swap plus at most one substitution.

use super::damm;

/// Whether two digit strings are confusable (identical strings are not: they are the same).
pub fn confusable(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a == b {
        return false;
    }
    let mut diff = [0usize; 4];
    let mut n = 0;
    for i in 0..a.len() {
        if a[i] != b[i] {
            if n == diff.len() {
                return false;
            }
            diff[n] = i;
            n += 1;
        }
    }
    if n <= 2 {
        return true;
    }
    if n > 3 {
        return false;
    }
    // Three differences: one adjacent swap must explain two of them.
    first_swap(a, b, &diff[..n]).is_some()
}

/// The first adjacent pair among the differing positions `diff` that a swap explains.
fn first_swap(a: &[u8], b: &[u8], diff: &[usize]) -> Option<usize> {
    diff.windows(2)
        .find(|w| w[1] == w[0] + 1 && a[w[0]] == b[w[1]] && a[w[1]] == b[w[0]])
        .map(|w| w[0])
}

/// Every valid codeword (digits + Damm check digit, same length as `code`) confusable with
/// `code`. Calls `f` once per distinct codeword (about `9·C(L,2) + L·(L−1)` calls for length L)
/// until `f` returns `false`.
pub fn for_each_confusable_codeword(code: &[u8], mut f: impl FnMut(&[u8]) -> bool) {
    let len = code.len();
    let mut buf = [0u8; 16];
    if len > buf.len() {
        return;
    }
    let c = &mut buf[..len];
    // Two substitutions at positions i < j: for every new digit at i, exactly one digit at j
    // completes a valid codeword (and it differs from the original, since a single error is
    // always detected).
    for i in 0..len {
        for j in i + 1..len {
            for d in 0..10u8 {
                if d == code[i] {
                    continue;
                }
                c.copy_from_slice(code);
                c[i] = d;
                let dj = damm::solve(c, j);
                c[j] = dj;
                if !f(c) {
                    return;
                }
            }
        }
    }
    // An adjacent swap plus one substitution at k: exactly one digit at k completes it.
    for i in 0..len.saturating_sub(1) {
        if code[i] == code[i + 1] {
            continue;
        }
        for k in 0..len {
            c.copy_from_slice(code);
            c.swap(i, i + 1);
            let dk = damm::solve(c, k);
            c[k] = dk;
            // Results at Hamming distance ≤ 2 were produced above; a result at distance 3 is
            // produced only by the first swap that explains it, so each comes once.
            let mut diff = [0usize; 3];
            let mut n = 0;
            for (p, (x, y)) in c.iter().zip(code).enumerate() {
                if x != y {
                    if n < 3 {
                        diff[n] = p;
                    }
                    n += 1;
                }
            }
            if n == 3 && first_swap(code, c, &diff) == Some(i) && !f(c) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn definition() {
        assert!(!confusable(&digits("1234567"), &digits("1234567")));
        assert!(confusable(&digits("1234567"), &digits("1234568")));
        assert!(confusable(&digits("1234567"), &digits("1294568")));
        assert!(!confusable(&digits("1234567"), &digits("9294568")));
        // swap of 3,4 plus one substitution
        assert!(confusable(&digits("1234567"), &digits("1243568")));
        // swap alone
        assert!(confusable(&digits("1234567"), &digits("1243567")));
        // non-adjacent swap plus substitution: 3 differences, not confusable
        assert!(!confusable(&digits("1234567"), &digits("1534268")));
        assert!(!confusable(&digits("123"), &digits("1234")));
    }

    #[test]
    fn enumeration_matches_brute_force() {
        // 4-digit serials + check digit: compare against testing every valid codeword.
        let mut code = digits("4815");
        code.push(damm::check_digit(&code));
        let mut listed = std::collections::BTreeSet::new();
        for_each_confusable_codeword(&code, |c| {
            assert!(damm::is_valid(c));
            assert!(confusable(c, &code), "{c:?} listed but not confusable");
            assert!(listed.insert(c.to_vec()), "{c:?} listed twice");
            true
        });
        let mut brute = std::collections::BTreeSet::new();
        for n in 0..10_000u32 {
            let mut c = digits(&format!("{n:04}"));
            c.push(damm::check_digit(&c));
            if confusable(&c, &code) {
                brute.insert(c);
            }
        }
        assert_eq!(listed, brute);
    }
}
