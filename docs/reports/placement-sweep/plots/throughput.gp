set terminal pngcairo size 900,560 font 'sans,10'
set grid
set key outside right top
set datafile missing '?'
set output "throughput.png"
set title 'Actions answered vs offered (sync long-polls excluded)'
set xlabel 'offered actions / s'
set ylabel 'answered non-sync requests / s'
set xrange [0:844.8000000000001]
set yrange [0:*]
plot x with lines dt 2 lc 'gray' title 'answered = offered', "load-all-in-one-sqlite.dat" using 1:2 with linespoints lw 2 title "all-in-one SQLite", "load-all-in-one-postgresql.dat" using 1:2 with linespoints lw 2 title "all-in-one PostgreSQL", "load-split-workers.dat" using 1:2 with linespoints lw 2 title "split workers", "load-2-nodes.dat" using 1:2 with linespoints lw 2 title "2 nodes", "load-3-nodes.dat" using 1:2 with linespoints lw 2 title "3 nodes"
