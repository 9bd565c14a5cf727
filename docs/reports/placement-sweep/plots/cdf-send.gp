set terminal pngcairo size 900,560 font 'sans,10'
set grid
set key outside right top
set datafile missing '?'
set output "cdf-send.png"
set title 'Message send latency: CDF at the highest load'
set logscale x
set xlabel 'ms'
set ylabel 'fraction at or below'
set yrange [0:1]
set key top left inside
plot "cdf-send-all-in-one-sqlite.dat" using 1:2 with steps lw 2 title "all-in-one SQLite ×32", "cdf-send-all-in-one-postgresql.dat" using 1:2 with steps lw 2 title "all-in-one PostgreSQL ×32", "cdf-send-split-workers.dat" using 1:2 with steps lw 2 title "split workers ×32", "cdf-send-2-nodes.dat" using 1:2 with steps lw 2 title "2 nodes ×32", "cdf-send-3-nodes.dat" using 1:2 with steps lw 2 title "3 nodes ×32"
