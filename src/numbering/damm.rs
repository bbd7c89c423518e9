//! The Damm check digit: detects every single-digit error and every swap of two adjacent
//! digits. Uses the totally anti-symmetric quasigroup of order 10 published by H. Michael Damm.

/// The quasigroup: `TABLE[interim][digit]` is the next interim digit.
const TABLE: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// `BEFORE[digit][next]`: the interim that `digit` turns into `next` (each column of the
/// quasigroup is a permutation, so this is unique).
const BEFORE: [[u8; 10]; 10] = invert_columns();

/// `DIGIT[interim][next]`: the digit that turns `interim` into `next` (rows are permutations).
const DIGIT: [[u8; 10]; 10] = invert_rows();

const fn invert_columns() -> [[u8; 10]; 10] {
    let mut inv = [[0u8; 10]; 10];
    let mut i = 0;
    while i < 10 {
        let mut d = 0;
        while d < 10 {
            inv[d][TABLE[i][d] as usize] = i as u8;
            d += 1;
        }
        i += 1;
    }
    inv
}

const fn invert_rows() -> [[u8; 10]; 10] {
    let mut inv = [[0u8; 10]; 10];
    let mut i = 0;
    while i < 10 {
        let mut d = 0;
        while d < 10 {
            inv[i][TABLE[i][d] as usize] = d as u8;
            d += 1;
        }
        i += 1;
    }
    inv
}

/// The interim digit after processing `digits` (each 0–9).
fn interim(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0u8, |acc, &d| TABLE[acc as usize][d as usize])
}

/// The check digit for `digits`.
pub fn check_digit(digits: &[u8]) -> u8 {
    interim(digits)
}

/// Whether `digits` (ending with their check digit) is a valid codeword.
pub fn is_valid(digits: &[u8]) -> bool {
    interim(digits) == 0
}

/// The unique digit at position `pos` that makes `code` a valid codeword, the other digits
/// kept. Exists for every position because rows and columns of the quasigroup are permutations.
pub fn solve(code: &[u8], pos: usize) -> u8 {
    let before = interim(&code[..pos]);
    // Walk back from the final 0 through the digits after `pos`.
    let needed = code[pos + 1..]
        .iter()
        .rev()
        .fold(0u8, |next, &d| BEFORE[d as usize][next as usize]);
    DIGIT[before as usize][needed as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_example() {
        // The worked example of the algorithm: 572 has check digit 4.
        assert_eq!(check_digit(&[5, 7, 2]), 4);
        assert!(is_valid(&[5, 7, 2, 4]));
        assert!(!is_valid(&[5, 7, 2, 3]));
    }

    #[test]
    fn detects_every_single_error_and_adjacent_swap() {
        // Exhaustive over all 4-digit bodies.
        for n in 0..10_000u32 {
            let mut code: Vec<u8> = format!("{n:04}").bytes().map(|b| b - b'0').collect();
            code.push(check_digit(&code));
            assert!(is_valid(&code));
            for i in 0..code.len() {
                for d in 0..10 {
                    if d != code[i] {
                        let mut bad = code.clone();
                        bad[i] = d;
                        assert!(!is_valid(&bad), "single error undetected in {code:?}");
                    }
                }
                if i + 1 < code.len() && code[i] != code[i + 1] {
                    let mut bad = code.clone();
                    bad.swap(i, i + 1);
                    assert!(!is_valid(&bad), "swap undetected in {code:?}");
                }
            }
        }
    }

    #[test]
    fn solve_finds_the_completing_digit() {
        let mut code = vec![1, 0, 4, 2, 7, 3, 0];
        code[6] = check_digit(&code[..6]);
        for pos in 0..code.len() {
            let mut c = code.clone();
            c[pos] = (c[pos] + 3) % 10;
            let d = solve(&c, pos);
            c[pos] = d;
            assert!(is_valid(&c));
            assert_eq!(c, code);
        }
    }
}
