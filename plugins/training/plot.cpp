// PlotReport: the curves of reported values as an SVG image.
#include <catena/serializers.hpp>
#include <catena/training.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace catena {
namespace training {

PlotReport::PlotReport(std::vector<std::string> y_keys, std::string x_key, TriggerPtr trigger, std::string filename)
    : y_keys_(std::move(y_keys)), x_key_(std::move(x_key)), trigger_(trigger ? trigger : every(1, Unit::epoch)),
      filename_(std::move(filename)) {
  if (y_keys_.empty()) throw Error(CT_INVALID_ARGUMENT, "PlotReport: give at least one key to plot");
  if (x_key_ != "epoch" && x_key_ != "iteration")
    throw Error(CT_INVALID_ARGUMENT, "PlotReport: x_key must be 'epoch' or 'iteration', got '" + x_key_ + "'");
}

void PlotReport::operator()(Trainer& t) {
  summary_.add(t.observation);
  if (!(*trigger_)(t)) return;
  Observation mean = summary_.compute_mean();
  summary_.clear();
  double x = x_key_ == "epoch" ? double(t.updater.epoch()) : double(t.updater.iteration);
  for (const std::string& k : y_keys_)
    if (const double* v = mean.find(k))
      if (std::isfinite(*v)) series_[k].push_back({x, *v});
  write_file_atomic(t.out + "/" + filename_, render(y_keys_, x_key_, series_));
}

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

}  // namespace

std::string PlotReport::render(const std::vector<std::string>& y_keys, const std::string& x_key,
                               const std::map<std::string, std::vector<std::pair<double, double>>>& series) {
  const double W = 640, H = 420, left = 70, right = 20, top = 20, bottom = 110;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (auto& [k, pts] : series)
    for (auto& [x, y] : pts) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pw = W - left - right, ph = H - top - bottom;
  auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto sy = [&](double y) { return top + (1 - (y - y0) / (y1 - y0)) * ph; };
  static const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    double xv = x0 + (x1 - x0) * i / 4, yv = y0 + (y1 - y0) * i / 4;
    s += "<line x1=\"" + num(sx(xv)) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(sx(xv)) + "\" y2=\"" +
         num(top + ph + 5) + "\" stroke=\"black\"/>\n";
    s += "<text x=\"" + num(sx(xv)) + "\" y=\"" + num(top + ph + 18) + "\" text-anchor=\"middle\">" + num(xv) + "</text>\n";
    s += "<line x1=\"" + num(left - 5) + "\" y1=\"" + num(sy(yv)) + "\" x2=\"" + num(left + pw) + "\" y2=\"" +
         num(sy(yv)) + "\" stroke=\"#ddd\"/>\n";
    s += "<text x=\"" + num(left - 8) + "\" y=\"" + num(sy(yv) + 4) + "\" text-anchor=\"end\">" + num(yv) + "</text>\n";
  }
  s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(top + ph + 36) + "\" text-anchor=\"middle\">" +
       escape(x_key) + "</text>\n";
  for (size_t i = 0; i < y_keys.size(); ++i) {
    const char* c = colors[i % 6];
    auto it = series.find(y_keys[i]);
    if (it != series.end() && !it->second.empty()) {
      std::string pts;
      for (auto& [x, y] : it->second) pts += num(sx(x)) + "," + num(sy(y)) + " ";
      s += "<polyline fill=\"none\" stroke=\"" + std::string(c) + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
      for (auto& [x, y] : it->second)
        s += "<circle cx=\"" + num(sx(x)) + "\" cy=\"" + num(sy(y)) + "\" r=\"3\" fill=\"" + c + "\"/>\n";
    }
    double ly = top + ph + 56 + 16 * double(i);
    s += "<line x1=\"" + num(left) + "\" y1=\"" + num(ly - 4) + "\" x2=\"" + num(left + 24) + "\" y2=\"" + num(ly - 4) +
         "\" stroke=\"" + c + "\" stroke-width=\"2\"/>\n";
    s += "<text x=\"" + num(left + 30) + "\" y=\"" + num(ly) + "\">" + escape(y_keys[i]) + "</text>\n";
  }
  s += "</svg>\n";
  return s;
}

}  // namespace training
}  // namespace catena
