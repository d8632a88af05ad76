# SPDX-License-Identifier: BSD-3-Clause
#
# Charts from usva-fault-perf --sweep (gnuplot 5.2 or later; gnuplot-nox is
# enough):
#
#   usva-fault-perf -l 0-1 -- --sweep shards=1,2,4,8 --csv sweep.csv \
#           --cdf cdf.csv
#   gnuplot -e "csv='sweep.csv'; cdf='cdf.csv'; out='fault'" \
#           usertools/usva-fault-plot.gnuplot
#
# writes
#   fault-throughput.png  faults/s (and GB/s populated) against the value
#   fault-latency.png     request-to-response p50, p90, p99, max against it
#   fault-cdf.png         the latency CDF of each value (from cdf.csv)
# Either CSV may be left out; out defaults to "usva-fault".

if (!exists("out")) out = "usva-fault"
set datafile separator ","
set terminal pngcairo size 960,600 noenhanced
set grid

if (exists("csv")) {
	# The swept parameter: column 1 of the rows.
	param = "value"
	stats csv skip 1 using (param = strcol(1), $2) nooutput

	set output out . "-throughput.png"
	set title "usva fault service: throughput against " . param
	set xlabel param
	set ylabel "M faults/s"
	set y2label "GB/s populated"
	set ytics nomirror
	set y2tics
	set yrange [0:*]
	set y2range [0:*]
	set key top left
	plot csv skip 1 using 2:($3 / 1e6) with linespoints lw 2 pt 7 \
		title "faults/s", \
	     csv skip 1 using 2:4 axes x1y2 with linespoints lw 1 pt 6 \
		dt 2 title "GB/s"
	unset y2tics
	unset y2label
	set ytics mirror
	set autoscale y

	set output out . "-latency.png"
	set title "usva fault service: request-to-response latency against " . param
	set ylabel "ns"
	set logscale y
	plot csv skip 1 using 2:5 with linespoints lw 2 pt 7 title "p50", \
	     csv skip 1 using 2:6 with linespoints lw 2 pt 5 title "p90", \
	     csv skip 1 using 2:7 with linespoints lw 2 pt 9 title "p99", \
	     csv skip 1 using 2:8 with linespoints lw 1 pt 6 dt 2 \
		title "max (bucket bound)"
	unset logscale y
	unset title
}

if (exists("cdf")) {
	# The values swept, in the order they come: " v1 v2 ... ".
	vals = " "
	cparam = "value"
	stats cdf skip 1 using (cparam = strcol(1), v = strcol(2), \
		vals = strstrt(vals, " " . v . " ") ? vals : vals . v . " ", \
		$3) nooutput

	set output out . "-cdf.png"
	set title "usva fault service: request-to-response latency CDF"
	set xlabel "latency (ns, log2 bucket edges)"
	set ylabel "fraction of faults answered"
	set logscale x 2
	set format x "%.0f"
	set yrange [0:1.02]
	set key bottom right
	plot for [v in vals] cdf skip 1 \
		using 3:(strcol(2) eq v ? $4 : NaN) with steps lw 2 \
		title cparam . "=" . v
}
