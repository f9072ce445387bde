//! Retrieval and classification scores as the paper reports them (section 3.1): MAP, the
//! precision–recall curve and the top-k precision curve for retrieval by Hamming ranking;
//! accuracy and the row-normalised confusion matrix for classification.
//!
//! Relevance is "same class label". Rankings use the tie rules of [`crate::hashing`]
//! (distance, then database position; or, in [`retrieval_ranked`], distance, then the hash
//! layer's outputs, then position), so every figure here is reproducible exactly.

mod classification;
pub mod interval;

pub use classification::{ClassificationReport, classification, mean_nll};

use crate::hashing::{CodeSet, Hit};
use serde::{Deserialize, Serialize};

/// Retrieval figures for one query set against one database.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RetrievalReport {
    /// Mean average precision over the whole ranked database.
    pub map: f64,
    /// MAP over the top `map_at_k.0` results (AP normalised by the relevant items retrieved
    /// within those k, the DPSH/DSH convention), when asked for.
    pub map_at_k: Option<(usize, f64)>,
    /// Precision–recall by Hamming radius: one point per radius 0..=bits.
    pub pr_curve: Vec<PrPoint>,
    /// Mean precision of the first k results, for each k asked for.
    pub top_k_precision: Vec<(usize, f64)>,
    pub queries: usize,
    pub database: usize,
    /// Share of queries whose first [`PAGE_RESULTS`] results are all relevant: what a visitor
    /// sees as a page of similar images with no wrong one in it.
    #[serde(default)]
    pub whole_page_right: f64,
    /// How many different first pages ([`PAGE_RESULTS`] images, in order) the queries get: a
    /// model whose codes tie for most of the archive shows most visitors the same page.
    #[serde(default)]
    pub distinct_pages: usize,
    /// Per query, in query order: is the nearest result of its class, and is its whole first
    /// page (the bootstrap intervals of P@1 and of [`Self::whole_page_right`] resample these).
    #[serde(default)]
    pub first_right: Vec<bool>,
    #[serde(default)]
    pub page_right: Vec<bool>,
    /// Average precision of each query, in query order: what the bootstrap intervals and the
    /// paired comparison of two models resample.
    #[serde(default)]
    pub ap: Vec<f64>,
}

/// One point of the precision–recall curve: everything within `radius` is retrieved.
///
/// Precision is averaged over the queries that retrieve at least one item at that radius (it
/// is undefined for the others); recall is averaged over all queries.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct PrPoint {
    pub radius: u32,
    pub precision: f64,
    pub recall: f64,
}

/// Average precision of one ranking given its relevance flags, over the first `cut` items.
/// When `cut` is the whole ranking this is the usual AP (divided by all relevant items);
/// with a smaller cut it is divided by the relevant items within the cut.
pub fn average_precision(relevant: &[bool], cut: usize) -> f64 {
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (rank, &rel) in relevant.iter().take(cut).enumerate() {
        if rel {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
        }
    }
    if hits == 0 { 0.0 } else { sum / hits as f64 }
}

/// Similar images the page shows for a picture.
pub const PAGE_RESULTS: usize = 12;

/// Scores `queries` against `database` by Hamming ranking.
///
/// A query that is itself in the database is not removed: callers choose disjoint sets
/// (the paper's protocol), which is also what `eval` does.
pub fn retrieval(
    queries: &CodeSet,
    query_labels: &[usize],
    database: &CodeSet,
    db_labels: &[usize],
    map_k: Option<usize>,
    top_ks: &[usize],
) -> RetrievalReport {
    retrieval_by(queries, query_labels, database, db_labels, map_k, top_ks, |q| database.rank_all(queries.code(q)))
}

/// [`retrieval`] in the order the page and `query` show ([`CodeSet::search_ranked`]): equal
/// distances ordered by the hash layer's outputs, `bits` [`crate::hashing::Soft`] bytes per
/// image in `query_soft` and `db_soft`.
pub fn retrieval_ranked(
    queries: &CodeSet,
    query_soft: &[u8],
    query_labels: &[usize],
    database: &CodeSet,
    db_soft: &[u8],
    db_labels: &[usize],
    map_k: Option<usize>,
    top_ks: &[usize],
) -> RetrievalReport {
    let b = queries.bits();
    assert_eq!(query_soft.len(), queries.len() * b);
    assert_eq!(db_soft.len(), database.len() * b);
    retrieval_by(queries, query_labels, database, db_labels, map_k, top_ks, |q| {
        database.rank_all_ranked(queries.code(q), &query_soft[q * b..(q + 1) * b], Some(db_soft))
    })
}

fn retrieval_by(
    queries: &CodeSet,
    query_labels: &[usize],
    database: &CodeSet,
    db_labels: &[usize],
    map_k: Option<usize>,
    top_ks: &[usize],
    rank: impl Fn(usize) -> Vec<Hit>,
) -> RetrievalReport {
    assert_eq!(queries.len(), query_labels.len());
    assert_eq!(database.len(), db_labels.len());
    assert_eq!(queries.bits(), database.bits());
    let bits = database.bits();
    let nq = queries.len();
    let mut map = 0.0;
    let mut map_at = 0.0;
    let mut prec_sum = vec![0.0f64; bits + 1];
    let mut prec_n = vec![0usize; bits + 1];
    let mut rec_sum = vec![0.0f64; bits + 1];
    let mut topk_sum = vec![0.0f64; top_ks.len()];
    let mut relevant = Vec::with_capacity(database.len());
    let mut ap = Vec::with_capacity(nq);
    let mut pages_right = 0usize;
    let mut pages = std::collections::HashSet::new();
    let (mut first_right, mut page_right) = (Vec::with_capacity(nq), Vec::with_capacity(nq));
    for q in 0..nq {
        let ranking = rank(q);
        pages.insert(ranking.iter().take(PAGE_RESULTS).map(|h| h.index).collect::<Vec<_>>());
        relevant.clear();
        relevant.extend(ranking.iter().map(|h| db_labels[h.index] == query_labels[q]));
        let total_rel = relevant.iter().filter(|&&r| r).count();
        ap.push(average_precision(&relevant, relevant.len()));
        map += ap[q];
        if let Some(k) = map_k {
            map_at += average_precision(&relevant, k);
        }
        let whole = relevant.iter().take(PAGE_RESULTS).all(|&r| r);
        pages_right += usize::from(whole);
        page_right.push(whole);
        first_right.push(relevant.first().copied().unwrap_or(false));
        for (slot, &k) in top_ks.iter().enumerate() {
            let k_eff = k.min(relevant.len()).max(1);
            let rel_in = relevant.iter().take(k_eff).filter(|&&r| r).count();
            topk_sum[slot] += rel_in as f64 / k_eff as f64;
        }
        // Walk the ranking once, closing a P-R point at each distance boundary.
        let mut retrieved = 0usize;
        let mut rel_retrieved = 0usize;
        let mut pos = 0usize;
        for r in 0..=bits {
            while pos < ranking.len() && ranking[pos].distance as usize <= r {
                retrieved += 1;
                rel_retrieved += relevant[pos] as usize;
                pos += 1;
            }
            if retrieved > 0 {
                prec_sum[r] += rel_retrieved as f64 / retrieved as f64;
                prec_n[r] += 1;
            }
            if total_rel > 0 {
                rec_sum[r] += rel_retrieved as f64 / total_rel as f64;
            }
        }
    }
    let n = nq.max(1) as f64;
    RetrievalReport {
        map: map / n,
        map_at_k: map_k.map(|k| (k, map_at / n)),
        pr_curve: (0..=bits)
            .map(|r| PrPoint {
                radius: r as u32,
                precision: if prec_n[r] > 0 { prec_sum[r] / prec_n[r] as f64 } else { 0.0 },
                recall: rec_sum[r] / n,
            })
            .collect(),
        top_k_precision: top_ks.iter().zip(topk_sum).map(|(&k, s)| (k, s / n)).collect(),
        queries: nq,
        database: database.len(),
        whole_page_right: pages_right as f64 / n,
        distinct_pages: pages.len(),
        first_right,
        page_right,
        ap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(bits: usize, values: &[u64]) -> CodeSet {
        CodeSet::from_words(bits, values.to_vec()).unwrap()
    }

    #[test]
    fn average_precision_worked_example() {
        // Relevant at ranks 1, 3, 4 of 5: AP = (1/1 + 2/3 + 3/4) / 3.
        let ap = average_precision(&[true, false, true, true, false], 5);
        assert!((ap - (1.0 + 2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-12);
        // @2: only rank 1 is relevant within the cut.
        assert!((average_precision(&[true, false, true, true, false], 2) - 1.0).abs() < 1e-12);
        assert_eq!(average_precision(&[false, false], 2), 0.0);
    }

    #[test]
    fn retrieval_worked_example_with_ties() {
        // 4-bit codes. Database: positions 0..4 with distances to query 0b0000 of 1, 1, 0, 2.
        let db = codes(4, &[0b0001, 0b0010, 0b0000, 0b0011]);
        let db_labels = [1, 0, 0, 0];
        let q = codes(4, &[0b0000]);
        let report = retrieval(&q, &[0], &db, &db_labels, Some(2), &[1, 2, 4]);
        // Ranking by (distance, position): 2 (d0, rel), 0 (d1, not), 1 (d1, rel), 3 (d2, rel).
        // The tie between positions 0 and 1 is broken by position, so AP = (1 + 2/3 + 3/4)/3.
        let expected = (1.0 + 2.0 / 3.0 + 0.75) / 3.0;
        assert!((report.map - expected).abs() < 1e-12);
        assert_eq!(report.map_at_k.unwrap().0, 2);
        assert!((report.map_at_k.unwrap().1 - 1.0).abs() < 1e-12);
        assert_eq!(report.top_k_precision, vec![(1, 1.0), (2, 0.5), (4, 0.75)]);
        // Radius 0: 1 retrieved, relevant → P = 1, R = 1/3. Radius 1: 3 retrieved, 2 relevant.
        assert_eq!(report.pr_curve[0], PrPoint { radius: 0, precision: 1.0, recall: 1.0 / 3.0 });
        assert_eq!(report.pr_curve[1], PrPoint { radius: 1, precision: 2.0 / 3.0, recall: 2.0 / 3.0 });
        assert_eq!(report.pr_curve[2], PrPoint { radius: 2, precision: 0.75, recall: 1.0 });
        assert_eq!(report.pr_curve[4].recall, 1.0);
        // Its first page (all 4 images: fewer than PAGE_RESULTS) holds a wrong one.
        assert_eq!(report.whole_page_right, 0.0);
        let right = retrieval(&q, &[0], &codes(4, &[0b0000, 0b0001]), &[0, 0], None, &[]);
        assert_eq!(right.whole_page_right, 1.0);

        // The same database with outputs: position 1's are nearer the query's than position
        // 0's, so the tie at distance 1 turns: 2, 1 (rel), 0 (not), 3 → AP = (1 + 1 + 3/4)/3.
        let q_soft = [0u8, 0, 0, 0];
        let db_soft = [200, 0, 0, 0, 0, 150, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0];
        let ranked = retrieval_ranked(&q, &q_soft, &[0], &db, &db_soft, &db_labels, None, &[1, 2, 4]);
        assert!((ranked.map - (1.0 + 1.0 + 0.75) / 3.0).abs() < 1e-12);
        assert_eq!(ranked.top_k_precision, vec![(1, 1.0), (2, 1.0), (4, 0.75)]);
        assert_eq!(ranked.pr_curve, report.pr_curve, "radii see no order within a distance");
    }

    #[test]
    fn distinct_pages_count_different_first_pages() {
        let db = codes(4, &[0b0001, 0b0010, 0b0000, 0b0011]);
        // Three queries, two of them with the same code: two different first pages.
        let q = codes(4, &[0b0000, 0b0000, 0b1111]);
        assert_eq!(retrieval(&q, &[0, 0, 0], &db, &[0, 0, 0, 0], None, &[]).distinct_pages, 2);
        // With outputs that differ, the two equal codes get pages in different orders.
        let q_soft = [0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0];
        let db_soft = [0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(retrieval_ranked(&q, &q_soft, &[0, 0, 0], &db, &db_soft, &[0, 0, 0, 0], None, &[]).distinct_pages, 3);
    }
}
