//! The closed form of the limit for nets whose pre-activations stay Gaussian: feedforward
//! ReLU or CReLU nets without batch norm (He, Glorot or orthogonal layers), and looks-linear
//! nets without batch norm, which are exactly linear.
//!
//! At infinite width a layer's pre-activation z(x) is a Gaussian process over the inputs and
//! its tangent z'(x) = dz/dx is Gaussian jointly with it. Per pair of points (x, y) the four
//! values (z_x, z_y, z'_x, z'_y) have the second moments [`PairMoments`]; the rectifier maps
//! them to the post-activation moments E[h_x h_y] (the arc-cosine kernel of Cho & Saul),
//! E[h'_x h_y] and E[h'_x h'_y] in closed form (Stein's lemma on the orthant), and the next
//! layer's matrix multiplies them all by σ². The gradient covariance with the readout
//! integrated out is E[h'_x h'_y] of the last layer.

use std::f64::consts::PI;

/// Second moments of a pre-activation z and its tangent z' at two points x and y, per unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairMoments {
    /// E[z_x^2], E[z_y^2], E[z_x z_y].
    pub zx_zx: f64,
    pub zy_zy: f64,
    pub zx_zy: f64,
    /// E[z'_x z_x], E[z'_x z_y], E[z'_y z_x], E[z'_y z_y].
    pub dx_zx: f64,
    pub dx_zy: f64,
    pub dy_zx: f64,
    pub dy_zy: f64,
    /// E[z'_x z'_y].
    pub dx_dy: f64,
}

/// Moments of a post-activation h and its tangent h' at two points, per unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PostMoments {
    /// E[h_x h_y].
    pub hx_hy: f64,
    /// E[h'_x h_y] and E[h'_y h_x].
    pub dx_hy: f64,
    pub dy_hx: f64,
    /// E[h'_x h'_y]: the gradient covariance once the readout is integrated out.
    pub dx_dy: f64,
}

/// The same at a single point: E[h^2], E[h' h], E[h'^2].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointMoments {
    pub hh: f64,
    pub dh: f64,
    pub dd: f64,
}

/// Pairs closer to collinear than this (1 - ρ² below it) are treated as exactly collinear:
/// only nets without a first-layer bias reach it (their pairs of one sign are collinear);
/// the grid's nearest neighbours stay above 1e-7 in every lab setting.
const COLLINEAR: f64 = 1e-12;

impl PairMoments {
    /// Layer 1's pre-activation z = w x + b, w ~ N(0, 2), b ~ N(0, 1) (or b = 0), z' = w.
    pub fn first_layer(x: f64, y: f64, bias: bool) -> Self {
        let b = if bias { 1.0 } else { 0.0 };
        Self {
            zx_zx: 2.0 * x * x + b,
            zy_zy: 2.0 * y * y + b,
            zx_zy: 2.0 * x * y + b,
            dx_zx: 2.0 * x,
            dx_zy: 2.0 * y,
            dy_zx: 2.0 * x,
            dy_zy: 2.0 * y,
            dx_dy: 2.0,
        }
    }

    /// Layer 1 with independent inputs: z_p ~ N(0, 1) independent across points, one
    /// tangent N(0, 1) shared by every point and independent of the z_p.
    pub fn independent(same_point: bool) -> Self {
        Self {
            zx_zx: 1.0,
            zy_zy: 1.0,
            zx_zy: if same_point { 1.0 } else { 0.0 },
            dx_zx: 0.0,
            dx_zy: 0.0,
            dy_zx: 0.0,
            dy_zy: 0.0,
            dx_dy: 1.0,
        }
    }

    /// The next layer's pre-activation moments: a matrix with entries of variance σ²/fan_in
    /// multiplies every second moment of its input by σ².
    pub fn next(x: PointMoments, y: PointMoments, pair: PostMoments, sigma2: f64) -> Self {
        Self {
            zx_zx: sigma2 * x.hh,
            zy_zy: sigma2 * y.hh,
            zx_zy: sigma2 * pair.hx_hy,
            dx_zx: sigma2 * x.dh,
            dx_zy: sigma2 * pair.dx_hy,
            dy_zx: sigma2 * pair.dy_hx,
            dy_zy: sigma2 * y.dh,
            dx_dy: sigma2 * pair.dx_dy,
        }
    }

    /// The moments at x alone.
    pub fn at_x(&self) -> PointMoments {
        PointMoments {
            hh: self.zx_zx,
            dh: self.dx_zx,
            dd: self.dx_dy,
        }
    }

    /// After the rectifier h = relu(z), h' = z' 1[z > 0]. CReLU's two halves relu(z) and
    /// relu(-z) have the same moments (z and -z are alike), so this is CReLU's too.
    pub fn relu(&self) -> PostMoments {
        let (a, b, c) = (self.zx_zx, self.zy_zy, self.zx_zy);
        let zero = PostMoments {
            hx_hy: 0.0,
            dx_hy: 0.0,
            dy_hx: 0.0,
            dx_dy: 0.0,
        };
        if a <= 0.0 || b <= 0.0 {
            return zero;
        }
        let det = (a * b - c * c).max(0.0);
        if det <= COLLINEAR * a * b {
            // z_y = (c/a) z_x: both active or, for c < 0, never both.
            return if c > 0.0 {
                PostMoments {
                    hx_hy: c / 2.0,
                    dx_hy: self.dx_zy / 2.0,
                    dy_hx: self.dy_zx / 2.0,
                    dx_dy: self.dx_dy / 2.0,
                }
            } else {
                zero
            };
        }
        let r = det.sqrt();
        let theta = r.atan2(c);
        // P(z_x > 0, z_y > 0).
        let both = (PI - theta) / (2.0 * PI);
        PostMoments {
            hx_hy: (r + (PI - theta) * c) / (2.0 * PI),
            dx_hy: self.dx_zy * both + self.dx_zx * r / (2.0 * PI * a),
            dy_hx: self.dy_zx * both + self.dy_zy * r / (2.0 * PI * b),
            dx_dy: self.dx_dy * both
                + (self.dx_zx * (a * self.dy_zy - c * self.dy_zx) / a
                    + self.dx_zy * (b * self.dy_zx - c * self.dy_zy) / b)
                    / (2.0 * PI * r),
        }
    }
}

impl PointMoments {
    /// After the rectifier at one point: z and -z are alike, so each moment halves.
    pub fn relu(self) -> Self {
        Self {
            hh: self.hh / 2.0,
            dh: self.dh / 2.0,
            dd: self.dd / 2.0,
        }
    }

    /// Times σ²: the next layer's pre-activation.
    pub fn scaled(self, sigma2: f64) -> Self {
        Self {
            hh: sigma2 * self.hh,
            dh: sigma2 * self.dh,
            dd: sigma2 * self.dd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gauss-Legendre nodes and weights on [-1, 1] (Newton on the Legendre recurrence).
    fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
                loop {
                    let (mut p0, mut p1) = (1.0, x);
                    for k in 2..=n {
                        let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                        (p0, p1) = (p1, p2);
                    }
                    let dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                    let step = p1 / dp;
                    x -= step;
                    if step.abs() < 1e-15 {
                        return (x, 2.0 / ((1.0 - x * x) * dp * dp));
                    }
                }
            })
            .collect()
    }

    /// E[f(u, v)] over (u, v) ~ N(0, [[a, c], [c, b]]) for f homogeneous of degree 2 and
    /// zero outside the quadrant u, v > 0: in polar coordinates of the whitened pair the
    /// radial integral is 2 and the angle runs over the wedge where both are positive,
    /// integrated by Gauss-Legendre (the integrand is smooth there).
    fn quadrant(a: f64, b: f64, c: f64, f: impl Fn(f64, f64) -> f64) -> f64 {
        // u = l11 e1, v = l21 e1 + l22 e2.
        let l11 = a.sqrt();
        let l21 = c / l11;
        let l22 = (b - l21 * l21).sqrt();
        // u > 0: φ in (-π/2, π/2); v > 0: l21 cos φ + l22 sin φ > 0.
        let start = (-l21).atan2(l22);
        let (lo, hi) = (start.max(-PI / 2.0), (start + PI).min(PI / 2.0));
        let nodes = gauss_legendre(40);
        let half = (hi - lo) / 2.0;
        let sum: f64 = nodes
            .iter()
            .map(|&(t, w)| {
                let phi = lo + half * (t + 1.0);
                let (u, v) = (l11 * phi.cos(), l21 * phi.cos() + l22 * phi.sin());
                w * half * f(u, v)
            })
            .sum();
        2.0 * sum / (2.0 * PI)
    }

    /// The post moments by quadrature, conditioning (z'_x, z'_y) on (z_x, z_y): an
    /// independent route to the closed form's Stein identities.
    fn by_quadrature(m: &PairMoments) -> PostMoments {
        let (a, b, c) = (m.zx_zx, m.zy_zy, m.zx_zy);
        let det = a * b - c * c;
        // E[z'_x | u, v] = αu u + αv v, etc., from Σ^{-1} = [[b, -c], [-c, a]] / det.
        let cond = |cu: f64, cv: f64| ((b * cu - c * cv) / det, (a * cv - c * cu) / det);
        let (su, sv) = cond(m.dx_zx, m.dx_zy);
        let (tu, tv) = cond(m.dy_zx, m.dy_zy);
        let residual = m.dx_dy - (su * m.dy_zx + sv * m.dy_zy);
        let both = quadrant(a, b, c, |_, _| 1.0);
        PostMoments {
            hx_hy: quadrant(a, b, c, |u, v| u * v),
            dx_hy: quadrant(a, b, c, |u, v| (su * u + sv * v) * v),
            dy_hx: quadrant(a, b, c, |u, v| (tu * u + tv * v) * u),
            // `both` is degree 0: its radial integral is 1, not 2.
            dx_dy: residual * both / 2.0
                + quadrant(a, b, c, |u, v| (su * u + sv * v) * (tu * u + tv * v)),
        }
    }

    #[test]
    fn relu_moments_match_quadrature_to_1e_10() {
        let cases = [
            PairMoments::first_layer(-1.3, 0.7, true),
            PairMoments::first_layer(0.4, 0.41, true),
            PairMoments::first_layer(-2.0, 2.0, true),
            PairMoments {
                zx_zx: 1.7,
                zy_zy: 0.9,
                zx_zy: -0.8,
                dx_zx: 0.3,
                dx_zy: -0.5,
                dy_zx: 0.2,
                dy_zy: 0.6,
                dx_dy: 1.1,
            },
        ];
        for m in cases {
            let (got, want) = (m.relu(), by_quadrature(&m));
            for (name, g, w) in [
                ("hx_hy", got.hx_hy, want.hx_hy),
                ("dx_hy", got.dx_hy, want.dx_hy),
                ("dy_hx", got.dy_hx, want.dy_hx),
                ("dx_dy", got.dx_dy, want.dx_dy),
            ] {
                assert!((g - w).abs() < 1e-10, "{m:?} {name}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn collinear_pairs_take_the_limit_of_the_general_formula() {
        let m = |y: f64| PairMoments::first_layer(0.9, y, true).relu();
        let (near, at) = (m(0.9 + 1e-7), m(0.9));
        assert!((near.dx_dy - at.dx_dy).abs() < 1e-5, "{near:?} {at:?}");
        assert!((near.hx_hy - at.hx_hy).abs() < 1e-6);
        let point = PairMoments::first_layer(0.9, 0.9, true).at_x().relu();
        assert!((at.dx_dy - point.dd).abs() < 1e-15 && (at.dx_hy - point.dh).abs() < 1e-15);
    }
}
